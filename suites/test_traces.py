"""Traces: spans sent over OTLP (gRPC and HTTP) through the collector are read back intact
from the trace store, found by search, and carry the collector's cluster/environment."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from obs_conformance.clients.polling import Observation, Patience, wait_for
from obs_conformance.clients.prometheus import PrometheusClient
from obs_conformance.clients.traces import Span, TraceStore
from obs_conformance.envconf import Environment
from obs_conformance.fixtures.emitters import SentTrace
from obs_conformance.fixtures.readback import read_promql, read_trace, since_sent
from obs_conformance.fixtures.sends_ahead import Sending, sends_ahead

pytestmark = [pytest.mark.traces]


def assert_spans_intact(store: TraceStore, sent: SentTrace, stored_spans: list[Span]) -> None:
    __tracebackhide__ = True
    stored = {span.span_id: span for span in stored_spans}
    for expected in sent.spans:
        got = stored[expected.span_id]
        actual = (got.name, got.parent_span_id, got.kind, got.status_code, got.service)
        wanted = (expected.name, expected.parent_span_id, expected.kind, expected.status_code, expected.service)
        assert actual == wanted, (
            f"{store.component}: span {expected.span_id} of trace {sent.trace_id} stored as "
            f"(name, parent, kind, status, service)={actual}, expected {wanted}"
        )
        sent_attributes = {k: got.attributes.get(k) for k in expected.attributes}
        assert sent_attributes == expected.attributes, (
            f"{store.component}: span {expected.name!r} attributes stored as {sent_attributes}, sent {expected.attributes}"
        )


def _trace(sending: Sending) -> SentTrace:
    return sending.emitter.send_trace("conformance-traces", sending.probe_id)


@pytest.mark.smoke
@sends_ahead(_trace)
def test_span_read_back_by_trace_id(
    patience: Callable[[str], Patience],
    sent: SentTrace,
    trace_store: TraceStore,
    record_latency: Callable[[float], None],
) -> None:
    waited = read_trace(trace_store, sent, patience("TRACE"))
    record_latency(since_sent(sent))
    assert_spans_intact(trace_store, sent, waited.value)


def _rich_trace(sending: Sending) -> SentTrace:
    return sending.emitter.send_rich_trace(sending.probe_id, sending.param("protocol"))


@pytest.mark.parametrize("protocol", ["grpc", "http"])
@sends_ahead(_rich_trace)
def test_multi_service_trace_intact(
    env: Environment,
    patience: Callable[[str], Patience],
    sent: SentTrace,
    trace_store: TraceStore,
    protocol: str,
    record_latency: Callable[[float], None],
) -> None:
    waited = read_trace(trace_store, sent, patience("TRACE"))
    record_latency(since_sent(sent))
    assert len(waited.value) == len(sent.spans), (
        f"{trace_store.component}: trace {sent.trace_id} has {len(waited.value)} spans, sent {len(sent.spans)} over OTLP/{protocol}"
    )
    assert_spans_intact(trace_store, sent, waited.value)
    for span in waited.value:
        added = {"cluster": span.resource.get("cluster"), "environment": span.resource.get("environment")}
        expected = {"cluster": env.text("CLUSTER_NAME"), "environment": env.text("ENV_NAME")}
        assert added == expected, (
            f"collector: span {span.name!r} resource has {added}, expected {expected} (added by the resource processor)"
        )


def _searchable_trace(sending: Sending) -> SentTrace:
    return sending.emitter.send_rich_trace(sending.probe_id)


@sends_ahead(_searchable_trace)
def test_trace_found_by_service_and_attribute_search(
    patience: Callable[[str], Patience], sent: SentTrace, trace_store: TraceStore, probe_id: str
) -> None:
    """By TraceQL-style search (service + span attribute) and by tag search, for both services."""
    read_trace(trace_store, sent, patience("TRACE"))
    attributes = {"probe.id": probe_id}
    searches = [(trace_store.search, trace_store.search_text), (trace_store.search_tags, trace_store.search_tags_text)]
    for service in ("conformance-frontend", "conformance-backend"):
        for search, text in searches:

            def probe(
                service: str = service, search: Callable[[str, dict[str, str]], list[str]] = search
            ) -> Observation[list[str]]:
                found = search(service, attributes)
                return Observation(found, sent.trace_id in found, f"trace ids {found[:5]}")

            wait_for(
                probe,
                patience=patience("TRACE"),
                expected=f"trace {sent.trace_id} in the search results",
                where=f"{trace_store.component}: {text(service, attributes)}",
            )


def _trace_of_own_services(sending: Sending) -> SentTrace:
    """A trace between two services named after the probe: its span metrics and graph edge are this run's."""
    probe_id = sending.probe_id
    frontend, backend = f"conformance-frontend-{probe_id}", f"conformance-backend-{probe_id}"
    return sending.emitter.send_rich_trace(probe_id, frontend=frontend, backend=backend)


@pytest.mark.slow
@sends_ahead(_trace_of_own_services)
def test_span_metrics_for_synthetic_services(
    patience: Callable[[str], Patience], sent: SentTrace, prometheus: PrometheusClient, probe_id: str
) -> None:
    """Tempo's metrics generator (the collector's spanmetrics connector locally) counts this run's calls.

    The services are named after the probe id, so the span-metric series are this run's own:
    series of an earlier run, still answering within Prometheus' lookback after the generator
    broke, cannot satisfy the check.
    """
    backend = f"conformance-backend-{probe_id}"
    promql = span_metrics_calls(backend)
    read_promql(
        prometheus,
        promql,
        lambda s: bool(s) and s[0].value >= 2,
        patience("METRIC"),
        f"span metrics (traces_spanmetrics_calls_total) of {backend}: 2 calls (its 2 spans of the trace sent)",
        sent_at=sent.sent_at,
    )


def span_metrics_calls(service: str) -> str:
    """Calls of ``service``: its label is ``service`` (Tempo) or ``service_name`` (the spanmetrics connector)."""
    names = '__name__=~"traces_spanmetrics_calls(_total)?"'
    return f'sum({{{names}, service="{service}"}} or {{{names}, service_name="{service}"}})'


@sends_ahead(_trace_of_own_services)
def test_service_graph_between_synthetic_services(
    env: Environment,
    patience: Callable[[str], Patience],
    sent: SentTrace,
    prometheus: PrometheusClient,
    probe_id: str,
) -> None:
    if not env.profile.has_servicegraph:
        pytest.skip(
            f"{env.target} target: service graphs come from Tempo's metrics generator; "
            "the local stack (its backends) has no servicegraph connector"
        )
    frontend, backend = f"conformance-frontend-{probe_id}", f"conformance-backend-{probe_id}"
    promql = f'traces_service_graph_request_total{{client="{frontend}", server="{backend}"}}'
    read_promql(
        prometheus,
        promql,
        lambda s: bool(s) and s[0].value >= 1,
        patience("METRIC"),
        f"a service-graph edge {frontend} -> {backend} (this run's services)",
        sent_at=sent.sent_at,
    )
