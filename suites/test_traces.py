"""Traces: a span sent over OTLP to the collector is read back from the trace store by trace id."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from clients.polling import Patience
from clients.traces import TraceStore
from envconf import Environment
from fixtures.emitters import OtlpEmitter
from fixtures.readback import read_trace

pytestmark = [pytest.mark.traces, pytest.mark.smoke]


def test_span_read_back_by_trace_id(
    env: Environment,
    patience: Callable[[str], Patience],
    emitter: OtlpEmitter,
    trace_store: TraceStore,
    probe_id: str,
    record_property: Callable[[str, object], None],
) -> None:
    sent = emitter.send_trace("conformance-traces", probe_id)

    waited = read_trace(trace_store, sent, patience("TRACE"))
    record_property("latency_seconds", round(waited.seconds, 3))

    stored = {span.span_id: span for span in waited.value}
    for expected in sent.spans:
        got = stored[expected.span_id]
        actual = (got.name, got.parent_span_id, got.kind, got.status_code, got.service, got.attributes.get("probe.id"))
        wanted = (
            expected.name,
            expected.parent_span_id,
            expected.kind,
            expected.status_code,
            expected.service,
            probe_id,
        )
        assert actual == wanted, (
            f"{trace_store.component}: span {expected.span_id} of trace {sent.trace_id} stored as "
            f"(name, parent, kind, status, service, probe.id)={actual}, expected {wanted}"
        )
