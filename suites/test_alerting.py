"""Alerting: a test alert posted to Alertmanager reaches the Slack receiver (the Slack mock)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from clients.alertmanager import AlertmanagerClient
from clients.polling import Patience
from clients.slack_mock import SlackMockClient
from envconf import Environment
from fixtures.readback import read_slack

pytestmark = [pytest.mark.alerting, pytest.mark.smoke]


def test_alert_posted_to_alertmanager_reaches_slack(
    env: Environment,
    patience: Callable[[str], Patience],
    alertmanager: AlertmanagerClient,
    slack_mock: SlackMockClient,
    probe_id: str,
    record_property: Callable[[str, object], None],
) -> None:
    labels = {"alertname": "ConformanceProbe", "severity": "warning", "run_id": probe_id}
    alertmanager.post_alert(labels, {"summary": f"conformance probe {probe_id}"})

    waited = read_slack(
        slack_mock, probe_id, patience("ALERT"), f"alert {labels} posted to {alertmanager.url('/api/v2/alerts')}"
    )
    record_property("latency_seconds", round(waited.seconds, 3))

    message = waited.value[0]
    channel = env.text("SLACK_CHANNEL")
    assert message.channel == channel, (
        f"Alertmanager: Slack message for {probe_id} went to channel {message.channel!r}, expected {channel!r}"
    )
    for needle in ("ConformanceProbe", "severity=warning", f"conformance probe {probe_id}"):
        assert needle in message.all_text, f"Alertmanager: Slack message lacks {needle!r}; got {message.all_text!r}"
