"""Alert delivery: rule -> Prometheus -> Alertmanager -> Slack (the mock), resolution, dedup, silences."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from obs_conformance.clients.alertmanager import AlertmanagerClient
from obs_conformance.clients.durations import duration_seconds
from obs_conformance.clients.polling import Observation, Patience, wait_for
from obs_conformance.clients.prometheus import PrometheusClient
from obs_conformance.clients.slack_mock import SlackMessage, SlackMockClient
from obs_conformance.envconf import Environment
from obs_conformance.fixtures.alerting import assert_no_more_slack, wait_for_slack
from obs_conformance.fixtures.emitters import SentMetric
from obs_conformance.fixtures.readback import on_prometheus_clock, read_fresh, since_sent
from obs_conformance.fixtures.sends_ahead import Sending, in_background, sends_ahead

pytestmark = [pytest.mark.alerting]


def probe_alert_labels(env: Environment, name: str, severity: str, probe_id: str) -> dict[str, str]:
    """Labels of a test alert: the run id, and the test namespace that keeps it off production Slack."""
    return {"alertname": name, "severity": severity, "run_id": probe_id, "namespace": env.text("TEST_NAMESPACE")}


def assert_message(env: Environment, message: SlackMessage, needles: list[str]) -> None:
    __tracebackhide__ = True
    channel = env.text("SLACK_CHANNEL")
    assert message.channel == channel, (
        f"Alertmanager: Slack message went to channel {message.channel!r}, expected {channel!r}"
    )
    for needle in needles:
        assert needle in message.all_text, f"Alertmanager: Slack message lacks {needle!r}; got {message.all_text!r}"


def _post(name: str) -> Callable[[Sending], float]:
    """A send that posts alert ``name`` (severity warning) to Alertmanager; it returns when (monotonic)."""

    def post(sending: Sending) -> float:
        labels = probe_alert_labels(sending.fixture("env"), name, "warning", sending.probe_id)
        sending.fixture("alertmanager").post_alert(labels, {"summary": f"conformance probe {sending.probe_id}"})
        return time.monotonic()

    return post


@pytest.mark.smoke
@sends_ahead(_post("ConformanceProbe"))
def test_alert_posted_to_alertmanager_reaches_slack(
    env: Environment,
    patience: Callable[[str], Patience],
    sent: float,
    alertmanager: AlertmanagerClient,
    slack_mock: SlackMockClient,
    probe_id: str,
    record_latency: Callable[[float], None],
) -> None:
    labels = probe_alert_labels(env, "ConformanceProbe", "warning", probe_id)
    waited = wait_for_slack(
        slack_mock, alertmanager, probe_id, patience("ALERT"), f"alert {labels} posted to Alertmanager"
    )
    record_latency(time.monotonic() - sent)
    assert_message(env, waited.value[0], ["ConformanceProbe", "severity=warning", f"conformance probe {probe_id}"])


def _trigger(sending: Sending) -> SentMetric:
    """The synthetic rule's trigger set to 1 for this probe: ConformanceSyntheticAlert fires."""
    return sending.emitter.send_gauge(
        "conformance-alerting", "conformance.alert_trigger", {"run_id": sending.probe_id}, 1
    )


@sends_ahead(_trigger)
def test_synthetic_rule_fires_to_slack(
    env: Environment,
    patience: Callable[[str], Patience],
    sent: SentMetric,
    alertmanager: AlertmanagerClient,
    slack_mock: SlackMockClient,
    probe_id: str,
    record_latency: Callable[[float], None],
) -> None:
    what = f"rule ConformanceSyntheticAlert on conformance_alert_trigger{{run_id={probe_id!r}}} = 1"
    firing = wait_for_slack(slack_mock, alertmanager, probe_id, patience("ALERT"), what, containing="[FIRING")
    record_latency(since_sent(sent))
    assert_message(
        env,
        firing.value[0],
        ["ConformanceSyntheticAlert", "severity=warning", f"Synthetic conformance alert for run {probe_id}"],
    )


def _post_twice(sending: Sending) -> Future[float]:
    """Alert ConformanceDedup posted; once its notification reached Slack, posted again (in the background).

    The future holds when the second post went out (monotonic), or the first wait's error.
    """
    env: Environment = sending.fixture("env")
    alertmanager: AlertmanagerClient = sending.fixture("alertmanager")
    slack_mock: SlackMockClient = sending.fixture("slack_mock")
    patience: Callable[[str], Patience] = sending.fixture("patience")
    probe_id = sending.probe_id
    labels = probe_alert_labels(env, "ConformanceDedup", "warning", probe_id)
    alertmanager.post_alert(labels, {"summary": f"conformance probe {probe_id}"})

    def again() -> float:
        wait_for_slack(slack_mock, alertmanager, probe_id, patience("ALERT"), f"alert {labels}")
        alertmanager.post_alert(labels, {"summary": f"conformance probe {probe_id}"})
        return time.monotonic()

    return in_background(again)


@pytest.mark.slow  # it watches one group_interval for a second notification: minutes on clusters
@pytest.mark.waits_twice
@sends_ahead(_post_twice)
def test_same_alert_twice_is_one_notification(
    env: Environment,
    sent: Future[float],
    slack_mock: SlackMockClient,
    probe_id: str,
) -> None:
    """The same alert posted again after its notification: no second message within one group_interval."""
    reposted_at = sent.result()  # the first notification's wait, and its error if none came
    # a second notification would go out at the group's next flush, one group_interval on
    window = reposted_at + env.duration("ALERT_GROUP_INTERVAL").seconds + 1 - time.monotonic()
    why = "the same alert fired twice must be grouped and deduplicated"
    assert_no_more_slack(slack_mock, probe_id, 1, max(window, 0.0), why)


def _fire_then_resolve(sending: Sending) -> Future[SentMetric]:
    """The synthetic rule's trigger set to 1; once the firing reached Slack, set to 0 (in the background).

    Alertmanager sends a resolution only for a notified firing, so the 0 waits for the firing
    message; the future holds the 0 sent, or the firing wait's error.
    """
    emitter = sending.emitter
    alertmanager: AlertmanagerClient = sending.fixture("alertmanager")
    slack_mock: SlackMockClient = sending.fixture("slack_mock")
    patience: Callable[[str], Patience] = sending.fixture("patience")
    probe_id, labels = sending.probe_id, {"run_id": sending.probe_id}
    emitter.send_gauge("conformance-alerting", "conformance.alert_trigger", labels, 1)

    def resolve() -> SentMetric:
        what = f"rule ConformanceSyntheticAlert on conformance_alert_trigger{{run_id={probe_id!r}}} = 1"
        wait_for_slack(slack_mock, alertmanager, probe_id, patience("ALERT"), what, containing="[FIRING")
        return emitter.send_gauge("conformance-alerting", "conformance.alert_trigger", labels, 0)

    return in_background(resolve)


@pytest.mark.slow
@pytest.mark.waits_twice
@sends_ahead(_fire_then_resolve)
def test_synthetic_rule_resolution_reaches_slack(
    env: Environment,
    patience: Callable[[str], Patience],
    sent: Future[SentMetric],
    alertmanager: AlertmanagerClient,
    slack_mock: SlackMockClient,
    probe_id: str,
) -> None:
    """An alert of its own, fired then resolved: Alertmanager sends a resolution only for a notified firing.

    Two pipelines in a row (fire, then resolve): the trigger goes to 0 in the background as soon
    as the firing reached Slack, while the other checks run. The firing message's content is
    test_synthetic_rule_fires_to_slack's check, on another alert.
    """
    sent.result()  # the firing reached Slack and the trigger went to 0, or the firing wait's error
    what = "the resolution of ConformanceSyntheticAlert (trigger set to 0; needs send_resolved: true)"
    resolved = wait_for_slack(slack_mock, alertmanager, probe_id, patience("ALERT"), what, containing="[RESOLVED")
    assert_message(env, resolved.value[0], ["ConformanceSyntheticAlert"])


def _silenced_alert(sending: Sending) -> tuple[str, float]:
    """A silence on the probe's run_id, then a critical alert it matches: the silence id, and when it was posted."""
    alertmanager: AlertmanagerClient = sending.fixture("alertmanager")
    labels = probe_alert_labels(sending.fixture("env"), "ConformanceSilenced", "critical", sending.probe_id)
    silence = alertmanager.create_silence({"run_id": sending.probe_id}, f"obs-conformance {sending.probe_id}")
    try:
        alertmanager.post_alert(labels, {"summary": "silenced probe"})
    except BaseException:
        alertmanager.expire_silence(silence)
        raise
    return silence, time.monotonic()


@sends_ahead(_silenced_alert)
def test_silence_suppresses_and_is_expired(
    env: Environment,
    patience: Callable[[str], Patience],
    sent: tuple[str, float],
    alertmanager: AlertmanagerClient,
    slack_mock: SlackMockClient,
    probe_id: str,
) -> None:
    labels = probe_alert_labels(env, "ConformanceSilenced", "critical", probe_id)
    silence, posted_at = sent
    try:

        def probe() -> Observation[list[str]]:
            alerts = alertmanager.alerts([f'run_id="{probe_id}"'])
            silenced = [sid for a in alerts for sid in a["status"].get("silencedBy", [])]
            states = [a["status"]["state"] for a in alerts]
            return Observation(silenced, silence in silenced, f"alerts in states {states}, silenced by {silenced}")

        wait_for(
            probe,
            deadline=patience("ALERT").deadline,
            expected=f"alert {labels} suppressed by silence {silence}",
            where=f'Alertmanager: GET {alertmanager.url("/api/v2/alerts")}?filter=run_id="{probe_id}"',
        )
        # a notification would have gone out group_wait after the post: watch until then and a second more
        window = posted_at + env.duration("ALERT_GROUP_WAIT").seconds + 1 - time.monotonic()
        assert_no_more_slack(slack_mock, probe_id, 0, max(window, 0.0), f"silence {silence} must suppress the alert")
        alertmanager.post_alert(labels, {"summary": "silenced probe"}, duration=timedelta(0))
    finally:
        alertmanager.expire_silence(silence)
    assert alertmanager.silence_state(silence) == "expired", (
        f"Alertmanager: silence {silence} not expired after the test"
    )


def test_watchdog_fires_but_never_reaches_slack(
    env: Environment,
    patience: Callable[[str], Patience],
    prometheus: PrometheusClient,
    alertmanager: AlertmanagerClient,
    slack_mock: SlackMockClient,
    run_started: float,
) -> None:
    """Watchdog evaluated during this run and kept fresh in Alertmanager by a Prometheus that sends it now.

    Alertmanager holds an alert until its endsAt (minutes): one left by a Prometheus that has
    stopped sending looks the same in a list. Prometheus resends a firing alert every
    ``rules.alert.resend-delay``, so the alert's ``updatedAt`` must be newer than that.
    """
    run_start = on_prometheus_clock(prometheus, run_started)
    read_fresh(
        prometheus, 'ALERTS{alertname="Watchdog", alertstate="firing"}', lambda v: v == 1, run_start, patience("ALERT"),
        "the Watchdog alert firing in Prometheus (the dead man's switch)",
    )  # fmt: skip
    resend = str(prometheus.get_json("/api/v1/status/flags")["data"]["rules.alert.resend-delay"])
    # one resend period, an evaluation to notice, and a scrape's worth of slack for clocks and delivery
    bound = (
        duration_seconds(resend)
        + env.duration("EVALUATION_INTERVAL").seconds
        + env.duration("SCRAPE_INTERVAL").seconds
        + 2
    )

    def probe() -> Observation[list[dict[str, Any]]]:
        found = alertmanager.alerts(['alertname="Watchdog"'])
        now = datetime.now(UTC)
        ages = [
            (now - datetime.fromisoformat(str(a["updatedAt"]).replace("Z", "+00:00"))).total_seconds() for a in found
        ]
        current = [a for a, age in zip(found, ages, strict=True) if age <= bound]
        shown = f"Watchdog alerts last updated {[f'{age:.0f}s ago' for age in ages]}" if found else "no Watchdog alert"
        return Observation(current, bool(current), shown)

    watchdogs = wait_for(
        probe,
        patience=patience("ALERT"),
        expected=(
            f"the Watchdog alert, updated by Prometheus within the last {bound:g}s "
            f"(it resends firing alerts every {resend}; an older one is left over, nobody sends it)"
        ),
        where=f'Alertmanager: GET {alertmanager.url("/api/v2/alerts")}?filter=alertname="Watchdog"',
    ).value
    receivers = sorted({str(r["name"]) for a in watchdogs for r in a["receivers"]})
    assert receivers == ["null"], f"Alertmanager: Watchdog routed to {receivers}, expected ['null']"
    # what arrived during this run only: a leak fixed since (and its old messages) must not fail a clean run
    since = slack_mock.on_mock_clock(run_started)
    leaked = [m.all_text[:120] for m in slack_mock.messages(contains="Watchdog", since=since)]
    assert not leaked, (
        f"Slack mock: Watchdog reached Slack during the run (GET {slack_mock.url('/api/messages')}"
        f"?contains=Watchdog&since={since:.3f}): {leaked}"
    )
