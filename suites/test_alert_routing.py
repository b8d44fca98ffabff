"""Routing conformance, from Alertmanager's running config, evaluated like ``amtool config routes test``."""

from __future__ import annotations

from typing import Any

import pytest

from obs_conformance.clients.alert_routing import inhibited_by, routes_for, undelivered_reason
from obs_conformance.clients.alertmanager import AlertmanagerClient
from obs_conformance.clients.durations import duration_seconds
from obs_conformance.clients.prometheus import PrometheusClient
from obs_conformance.envconf import Environment

pytestmark = [pytest.mark.alerting]


@pytest.fixture(scope="module")
def am_config(alertmanager: AlertmanagerClient) -> dict[str, Any]:
    return alertmanager.running_config()


def _two_app_namespaces(env: Environment) -> tuple[str, str]:
    """An app namespace of the env and another namespace: its second app namespace, else the stack's."""
    apps = env.app_namespaces
    return apps[0], apps[1] if len(apps) > 1 else env.text("NAMESPACE")


def slack_receivers(config: dict[str, Any], channel: str) -> set[str]:
    return {
        r["name"]
        for r in config.get("receivers", [])
        if any(s.get("channel") == channel for s in r.get("slack_configs") or [])
    }


@pytest.mark.parametrize("alertname", ["Watchdog", "InfoInhibitor"])
def test_never_notifying_alerts_go_to_null(am_config: dict[str, Any], env: Environment, alertname: str) -> None:
    reached = routes_for(am_config, {"alertname": alertname, "severity": "none", "namespace": env.text("NAMESPACE")})
    assert reached == ["null"], (
        f"Alertmanager route tree: {alertname} reaches {reached}, expected ['null'] (it must never notify)"
    )
    null = next((r for r in am_config["receivers"] if r["name"] == "null"), None)
    assert null is not None and not any(k.endswith("_configs") for k in null), (
        f"Alertmanager: receiver 'null' is {null}, expected no integrations"
    )


@pytest.mark.parametrize("severity", ["critical", "warning"])
def test_actionable_alerts_reach_slack_channel(am_config: dict[str, Any], env: Environment, severity: str) -> None:
    channel = env.text("SLACK_CHANNEL")
    wanted = slack_receivers(am_config, channel)
    assert wanted, f"Alertmanager: no receiver has a slack_config for channel {channel!r}"
    labels = {"alertname": "KubePodCrashLooping", "severity": severity, "namespace": env.app_namespaces[0]}
    reached = routes_for(am_config, labels)
    assert set(reached) & wanted, (
        f"Alertmanager route tree: {labels} reaches {reached}, expected one of {sorted(wanted)} ({channel})"
    )


def test_slack_receiver_sends_resolved(am_config: dict[str, Any], env: Environment) -> None:
    receivers = slack_receivers(am_config, env.text("SLACK_CHANNEL"))
    assert receivers, f"Alertmanager: no receiver has a slack_config for channel {env.text('SLACK_CHANNEL')!r}"
    for name in receivers:
        receiver = next(r for r in am_config["receivers"] if r["name"] == name)
        for slack in receiver["slack_configs"]:
            assert slack.get("send_resolved") is True, (
                f"Alertmanager: receiver {name} send_resolved={slack.get('send_resolved')}, expected true"
            )
            assert slack.get("api_url") or slack.get("api_url_file"), (
                f"Alertmanager: receiver {name} has no Slack webhook URL"
            )


DESIGN_ALERTS = ("NodeCPUHighUsage", "NodeMemoryHighUtilization", "KubePodCrashLooping",
                 "KubePersistentVolumeFillingUp", "TargetDown")  # fmt: skip


def test_design_alerts_reach_slack_when_firing_alone(
    am_config: dict[str, Any], prometheus: PrometheusClient, env: Environment
) -> None:
    """The design sends high CPU, memory pressure, crash loops, full volumes and down targets to its
    channel: each, with the labels of its running rule, is routed there and not inhibited by what
    fires beside it (an info alert alone is muted by InfoInhibitor whatever its route)."""
    rules = [rule for rule in prometheus.rules() if rule["type"] == "alerting" and rule["name"] in DESIGN_ALERTS]
    missing = [name for name in DESIGN_ALERTS if name not in {rule["name"] for rule in rules}]
    assert not missing, f"Prometheus: the design's alerting rules {missing} are not loaded"
    undelivered = [
        reason
        for rule in rules
        if (reason := undelivered_reason(
            am_config, {"alertname": rule["name"], "namespace": env.app_namespaces[0], **rule.get("labels", {})},
            env.text("SLACK_CHANNEL"),
        )) is not None
    ]  # fmt: skip
    assert not undelivered, "Alertmanager: " + "; ".join(undelivered)


def test_info_alerts_are_inhibited_by_infoinhibitor(am_config: dict[str, Any], env: Environment) -> None:
    """The chart's inhibition semantics (an info-level alert of no design alert)."""
    app, other = _two_app_namespaces(env)
    info = {"alertname": "KubeletTooManyPods", "severity": "info", "namespace": app}
    inhibitor = {"alertname": "InfoInhibitor", "severity": "none", "namespace": app}
    assert inhibited_by(am_config, info, inhibitor), (
        f"Alertmanager inhibit_rules: {info} is not inhibited by {inhibitor}"
    )
    warning = {**info, "severity": "warning"}
    assert not inhibited_by(am_config, warning, inhibitor), (
        f"Alertmanager inhibit_rules: InfoInhibitor also silences {warning}"
    )
    elsewhere = {**inhibitor, "namespace": other}
    assert not inhibited_by(am_config, info, elsewhere), (
        "Alertmanager inhibit_rules: InfoInhibitor must only act within its namespace"
    )


def test_group_wait_fits_the_alert_deadline(am_config: dict[str, Any], env: Environment) -> None:
    group_wait_text = str(am_config["route"].get("group_wait", "30s"))
    group_wait = duration_seconds(group_wait_text)
    budget = (
        env.duration("ALERT_DEADLINE").seconds
        - env.duration("EVALUATION_INTERVAL").seconds
        - env.duration("SCRAPE_INTERVAL").seconds
    )
    assert group_wait < budget, (
        f"Alertmanager: route group_wait={group_wait_text} leaves no time to deliver within ALERT_DEADLINE={env.duration('ALERT_DEADLINE')} "
        f"(after scrape {env.duration('SCRAPE_INTERVAL')} and evaluation {env.duration('EVALUATION_INTERVAL')})"
    )
