"""Logs: OTLP records through the collector land in the log store with the design's labels,
severity, body and trace context; the store runs with the env's retention."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from obs_conformance.clients.logs import LogStore, duration_seconds
from obs_conformance.clients.polling import Patience
from obs_conformance.envconf import Environment
from obs_conformance.envconf.stack_facts import LOG_INDEX_LABELS
from obs_conformance.fixtures.emitters import SentLog
from obs_conformance.fixtures.readback import assert_placement, read_logs, since_sent
from obs_conformance.fixtures.sends_ahead import Sending, sends_ahead

pytestmark = [pytest.mark.logs]

TRACE_ID = 0x5B8EFFF798038103D269B633813FC60C
SPAN_ID = 0xEEE19B7EC3C1B174
# The design's Loki otlp_config: these resource attributes are index labels; everything else
# of a record (its attributes, trace context) is structured metadata, never an index label.
INDEX_LABELS = LOG_INDEX_LABELS
STRUCTURED_METADATA = ("trace_id", "span_id", "probe.id")


def _log(sending: Sending) -> SentLog:
    probe_id = sending.probe_id
    return sending.emitter.send_log("conformance-logs", probe_id, body=f"conformance log probe {probe_id} ✓ état=ok")


@pytest.mark.smoke
@sends_ahead(_log)
def test_log_record_read_back_by_label_query(
    env: Environment,
    patience: Callable[[str], Patience],
    sent: SentLog,
    log_store: LogStore,
    probe_id: str,
    record_latency: Callable[[float], None],
) -> None:
    service = "conformance-logs"
    selector = {"service.name": service, "environment": env.text("ENV_NAME")}

    waited = read_logs(log_store, sent, selector, probe_id, patience("LOG"))
    record_latency(since_sent(sent))

    record = next(r for r in waited.value if r.body == sent.body)
    actual = {
        "service.name": record.get("service.name"),
        "cluster": record.get("cluster"),
        "environment": record.get("environment"),
        "severity": record.get("severity_text") or record.get("detected_level"),
        "probe.id": record.get("probe.id"),
    }
    expected = {
        "service.name": service,
        "cluster": env.text("CLUSTER_NAME"),
        "environment": env.text("ENV_NAME"),
        "severity": sent.severity_text,
        "probe.id": probe_id,
    }
    assert actual == expected, f"{log_store.component}: record {sent.body!r} stored with {actual}, expected {expected}"


def _app_log(sending: Sending) -> SentLog:
    """A WARN record of an app in namespace jips, team platform, inside a trace."""
    body = f"payment failed for {sending.probe_id}: délai dépassé ⏱"
    resource = {"namespace": "jips", "team": "platform"}
    return sending.emitter.send_log(
        "conformance-app", sending.probe_id, body, trace_id=TRACE_ID, span_id=SPAN_ID, resource=resource
    )


@sends_ahead(_app_log)
def test_design_labels_are_index_labels_and_trace_context_kept(
    env: Environment,
    patience: Callable[[str], Patience],
    sent: SentLog,
    log_store: LogStore,
    probe_id: str,
    record_latency: Callable[[float], None],
) -> None:
    body = sent.body
    selector = {
        "service.name": "conformance-app",
        "namespace": "jips",
        "team": "platform",
        "environment": env.text("ENV_NAME"),
    }

    waited = read_logs(log_store, sent, selector, probe_id, patience("LOG"))
    record_latency(since_sent(sent))

    record = next(r for r in waited.value if r.body == sent.body)
    labels = {name: record.index_label(name) for name in selector}
    assert labels == selector, (
        f"{log_store.component}: index labels {labels}, expected {selector} (namespace, team, environment, service_name)"
    )
    assert_placement(log_store, record, INDEX_LABELS, STRUCTURED_METADATA)
    context = {
        "trace_id": record.get("trace_id"),
        "span_id": record.get("span_id"),
        "severity": record.get("severity_text"),
    }
    expected = {"trace_id": sent.trace_id, "span_id": sent.span_id, "severity": "WARN"}
    assert context == expected, f"{log_store.component}: record {body!r} kept {context}, expected {expected}"


def test_log_store_runs_with_env_retention(env: Environment, log_store: LogStore) -> None:
    period, compaction = log_store.retention()
    wanted = env.duration("LOG_RETENTION")
    assert duration_seconds(period) == wanted.seconds, (
        f"{log_store.component}: running retention {period}, expected {wanted} (LOG_RETENTION)"
    )
    assert "disabled" not in compaction, f"{log_store.component}: compaction {compaction}, expected retention enforced"
