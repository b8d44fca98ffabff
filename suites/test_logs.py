"""Logs: a record sent over OTLP to the collector is read back from the log store by a label query."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from clients.logs import LogStore
from clients.polling import Patience
from envconf import Environment
from fixtures.emitters import OtlpEmitter
from fixtures.readback import read_logs

pytestmark = [pytest.mark.logs, pytest.mark.smoke]


def test_log_record_read_back_by_label_query(
    env: Environment,
    patience: Callable[[str], Patience],
    emitter: OtlpEmitter,
    log_store: LogStore,
    probe_id: str,
    record_property: Callable[[str, object], None],
) -> None:
    service = "conformance-logs"
    sent = emitter.send_log(service, probe_id, body=f"conformance log probe {probe_id} ✓ état=ok")
    selector = {"service.name": service, "environment": env.text("ENV_NAME")}

    waited = read_logs(log_store, sent, selector, probe_id, patience("LOG"))
    record_property("latency_seconds", round(waited.seconds, 3))

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
