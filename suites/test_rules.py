"""Alerting rules: loaded, healthy, the design's alerts present, and their unit tests pass under promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from clients.prometheus import PrometheusClient
from envconf import Environment

pytestmark = [pytest.mark.alerting, pytest.mark.metrics]

REQUIRED = (
    "Watchdog",
    "InfoInhibitor",
    "TargetDown",
    "NodeCPUHighUsage",
    "NodeMemoryHighUtilization",
    "KubePodCrashLooping",
    "KubePersistentVolumeFillingUp",
    "ConformanceSyntheticAlert",
)
RULE_TESTS = Path(__file__).resolve().parent / "rules" / "conformance_rules_test.yml"


def test_required_alerts_loaded(prometheus: PrometheusClient) -> None:
    loaded = {rule["name"] for rule in prometheus.rules() if rule["type"] == "alerting"}
    missing = [name for name in REQUIRED if name not in loaded]
    assert not missing, f"Prometheus: alerting rules {missing} not loaded (loaded: {sorted(loaded)})"


def test_every_rule_evaluates_without_error(prometheus: PrometheusClient) -> None:
    broken = [f"{r['group']}/{r['name']}: {r.get('lastError')}" for r in prometheus.rules() if r.get("health") != "ok"]
    assert not broken, "Prometheus: rules with evaluation errors:\n  " + "\n  ".join(broken)


def test_promtool_rule_unit_tests(env: Environment, prometheus: PrometheusClient, tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed")
    if not env.is_local:
        pytest.skip("rule files are only readable on the local stack (clusters hold them in PrometheusRules)")
    rule_files = [str(Path(f)) for f in prometheus.config().get("rule_files", [])]
    assert rule_files, "Prometheus: runs with no rule_files"
    tests = tmp_path / "rules_test.yml"
    tests.write_text(RULE_TESTS.read_text().replace("RULE_FILES", ", ".join(rule_files)))
    done = subprocess.run(
        [promtool, "test", "rules", str(tests)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"promtool test rules on {rule_files} failed:\n{done.stdout}{done.stderr}"
