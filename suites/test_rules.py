"""Alerting rules: loaded, healthy, the design's alerts present, and their unit tests pass under promtool."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from obs_conformance.clients.durations import duration_seconds
from obs_conformance.clients.polling import Observation, Patience, wait_for
from obs_conformance.clients.prometheus import PrometheusClient
from obs_conformance.deployer.toolchain.tools import Tool
from obs_conformance.envconf import Environment
from obs_conformance.fixtures.readback import on_prometheus_clock

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
_RFC3339 = re.compile(r"(?P<head>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<fraction>\d+))?(?P<zone>Z|[+-]\d\d:\d\d)$")
RULE_TESTS = Path(__file__).resolve().parent / "rules" / "conformance_rules_test.yml"


def test_required_alerts_loaded(prometheus: PrometheusClient) -> None:
    loaded = {rule["name"] for rule in prometheus.rules() if rule["type"] == "alerting"}
    missing = [name for name in REQUIRED if name not in loaded]
    assert not missing, f"Prometheus: alerting rules {missing} not loaded (loaded: {sorted(loaded)})"


def evaluated_at(rule: dict[str, Any]) -> float:
    """A rule's ``lastEvaluation`` (RFC 3339, nanoseconds) as Unix seconds; 0 if never evaluated."""
    found = _RFC3339.match(str(rule.get("lastEvaluation") or ""))
    if found is None or found["head"].startswith("0001-"):
        return 0.0
    zone = "+00:00" if found["zone"] == "Z" else found["zone"]
    return datetime.fromisoformat(f"{found['head']}.{(found['fraction'] or '0')[:6]}{zone}").timestamp()


def test_every_rule_evaluates_without_error(
    patience: Callable[[str], Patience],
    prometheus: PrometheusClient,
    run_started: float,
    declared_rule_intervals: dict[str, float] | None,
) -> None:
    """Health from an evaluation after the run started, not one left over from before it.

    A group that sets its own interval in the deployed rules (the chart's render with the env's
    values), longer than the deadline (the chart's 3m availability rules), cannot be waited for: it
    must have been evaluated within twice its interval (its loop runs), and its health is that latest
    evaluation's, named as such. Any other group (a global evaluation interval set too long among them)
    must evaluate after the run started. Without the render, a group running at another interval than
    Prometheus' global one counts as setting its own."""
    since = on_prometheus_clock(prometheus, run_started)
    wait = patience("ALERT")
    declared = declared_rule_intervals
    if declared is None:
        global_interval = duration_seconds(str(prometheus.config()["global"]["evaluation_interval"]))
        declared = {
            g["name"]: float(g["interval"]) for g in prometheus.rule_groups() if float(g["interval"]) != global_interval
        }

    def slow(rule: dict[str, Any]) -> bool:
        return declared.get(rule["group"], 0.0) > wait.deadline

    started = evaluated_at({"lastEvaluation": prometheus.started_at()})

    def stale(rule: dict[str, Any], now: float) -> bool:
        if not slow(rule):
            return evaluated_at(rule) <= since
        # a group's first evaluation comes up to one interval after the server's start
        return max(evaluated_at(rule), started) < now - 2 * float(rule["interval"])

    def probe() -> Observation[list[dict[str, Any]]]:
        now = time.time() + (since - run_started)  # this machine's clock on Prometheus'
        rules = [
            {**rule, "group": group["name"], "interval": float(group["interval"])}
            for group in prometheus.rule_groups()
            for rule in group.get("rules") or []
        ]
        old = [f"{r['group']}/{r['name']} (last {r.get('lastEvaluation')})" for r in rules if stale(r, now)]
        return Observation(rules, bool(rules) and not old, f"{len(rules)} rules; not evaluated since: {old[:5]}")

    rules = wait_for(
        probe,
        patience=wait,
        expected=(
            f"every rule evaluated after the run started (Prometheus time {since:.3f}); groups that set their own "
            f"interval over {wait.deadline:g}s within twice it"
        ),
        where=f"Prometheus: GET {prometheus.url('/api/v1/rules')}",
    ).value
    broken = [
        f"{r['group']}/{r['name']}: {r.get('lastError')}"
        + (f" (evaluated every {r['interval']:g}s: its latest evaluation)" if slow(r) else "")
        for r in rules
        if r.get("health") != "ok" and not (slow(r) and evaluated_at(r) == 0.0)  # a young server's first is still due
    ]
    assert not broken, "Prometheus: rules with evaluation errors:\n  " + "\n  ".join(broken)


def test_promtool_rule_unit_tests(
    env: Environment, prometheus: PrometheusClient, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if not env.profile.stack_as_processes:
        pytest.skip(
            f"{env.target} target: rule files are only readable where the stack runs as processes "
            "(clusters hold them in PrometheusRules)"
        )
    promtool: Tool = request.getfixturevalue("promtool")  # built only where it runs
    rule_files = [str(Path(f)) for f in prometheus.config().get("rule_files", [])]
    assert rule_files, "Prometheus: runs with no rule_files"
    tests = tmp_path / "rules_test.yml"
    tests.write_text(RULE_TESTS.read_text().replace("RULE_FILES", ", ".join(rule_files)))
    done = promtool("test", "rules", str(tests)).run(timeout=60)
    assert done.returncode == 0, f"promtool test rules on {rule_files} failed:\n{done.stdout}{done.stderr}"
