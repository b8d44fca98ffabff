"""The design's alerts on the chart's real rules and routing: each fires on its condition (promtool over
the rule files prometheus-operator writes for kube-prometheus-stack rendered with our values), and,
firing alone, reaches the Slack receiver of #monitoring: not ``null``, not inhibited."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from obs_conformance.clients.alert_routing import undelivered_reason
from obs_conformance.deployer import pins
from obs_conformance.deployer.cluster.operator_config import chart_values, cluster_config
from obs_conformance.deployer.targets.stack.cluster_config import ClusterConfig, dump
from obs_conformance.deployer.toolchain.gobuild import build_source_module
from obs_conformance.envconf import load_environment
from tests.cluster_render import CHARTS

DESIGN_ALERTS = (
    "NodeCPUHighUsage",
    "NodeMemoryHighUtilization",
    "KubePodCrashLooping",
    "KubePersistentVolumeFillingUp",
    "TargetDown",
)
RULE_TESTS = Path(__file__).resolve().parent.parent / "suites" / "rules" / "design_alerts_test.yml"
ENV = load_environment("local", environ={})


def _alerts(config: ClusterConfig, name: str) -> list[dict[str, Any]]:
    return [
        rule
        for content in config.rule_files.values()
        for group in content["groups"]
        for rule in group["rules"]
        if rule.get("alert") == name
    ]


def _undelivered(config: ClusterConfig) -> dict[str, str]:
    """Why each design alert (each of its rules, with the rule's own labels) would not reach #monitoring."""
    found: dict[str, str] = {}
    for name in DESIGN_ALERTS:
        rules = _alerts(config, name)
        assert rules, f"the chart render has no alerting rule {name}"
        for rule in rules:
            labels = {"alertname": name, "namespace": ENV.app_namespaces[0], **rule.get("labels", {})}
            reason = undelivered_reason(config.alertmanager, labels, ENV.text("SLACK_CHANNEL"))
            if reason is not None:
                found[name] = reason
    return found


def _without_custom_rules(values: str) -> str:
    """Our values with the ``customRules`` block removed: the chart's default severities."""
    lines = values.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("customRules:"))
    end = next(i for i in range(start + 1, len(lines)) if lines[i][:1] not in (" ", ""))
    return "".join(lines[:start] + lines[end:])


def test_design_alerts_fire_on_the_rendered_rules(tmp_path: Path) -> None:
    config = cluster_config(ENV, CHARTS)
    files = []
    for name, content in config.rule_files.items():
        path = tmp_path / name
        path.write_text(dump(content))
        files.append(str(path))
    tests = tmp_path / "design_alerts_test.yml"
    tests.write_text(RULE_TESTS.read_text().replace("RULE_FILES", ", ".join(files)))
    promtool = build_source_module(pins.PROMTOOL)
    done = subprocess.run(
        [str(promtool), "test", "rules", str(tests)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"promtool test rules {RULE_TESTS.name}:\n{done.stdout}{done.stderr}"


def test_design_alerts_reach_monitoring_when_firing_alone() -> None:
    assert _undelivered(cluster_config(ENV, CHARTS)) == {}


def test_chart_defaults_mute_high_cpu_usage() -> None:
    """Rendered with the chart's defaults, NodeCPUHighUsage is severity info: InfoInhibitor fires beside
    it, and the chart's inhibit rule mutes it; the check names the alert, its severity and the rule."""
    values = _without_custom_rules(chart_values(ENV))
    assert "customRules" not in yaml.safe_load(values) and "customRules" in yaml.safe_load(chart_values(ENV))
    defaults = cluster_config(ENV, CHARTS, values)
    [rule] = _alerts(defaults, "NodeCPUHighUsage")
    assert rule["labels"]["severity"] == "info"
    undelivered = _undelivered(defaults)
    assert set(undelivered) == {"NodeCPUHighUsage"}, undelivered
    reason = undelivered["NodeCPUHighUsage"]
    assert "NodeCPUHighUsage (severity info) is inhibited while InfoInhibitor fires" in reason, reason
    assert (
        "'source_matchers': ['alertname = InfoInhibitor']" in reason
        and "'target_matchers': ['severity = info']" in reason
    )


@pytest.mark.parametrize("severity", ["warning", "critical"])
def test_our_values_keep_the_other_severities(severity: str) -> None:
    """Only NodeCPUHighUsage's severity is changed by our values; the rest are the chart's."""
    ours, defaults = cluster_config(ENV, CHARTS), cluster_config(ENV, CHARTS, _without_custom_rules(chart_values(ENV)))
    for name in DESIGN_ALERTS[1:]:
        assert [r["labels"] for r in _alerts(ours, name)] == [r["labels"] for r in _alerts(defaults, name)]
    assert {r["labels"]["severity"] for r in _alerts(ours, "NodeCPUHighUsage")} == {"warning"}
    assert severity in {r["labels"]["severity"] for n in DESIGN_ALERTS for r in _alerts(ours, n)}
