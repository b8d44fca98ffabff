"""Across signals: one request as a trace, a log with its trace id and an exemplar of it, joined in
all three backends; and the collector accepted everything it was sent, refusing and dropping nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from clients.logs import LogStore
from clients.polling import Observation, Patience, wait_for
from clients.prometheus import PrometheusClient
from clients.traces import TraceStore
from envconf import Environment
from fixtures.emitters import OtlpEmitter
from fixtures.readback import read_logs, read_trace

pytestmark = [pytest.mark.traces, pytest.mark.logs, pytest.mark.metrics]


def test_trace_log_and_exemplar_join_across_backends(
    patience: Callable[[str], Patience],
    emitter: OtlpEmitter,
    trace_store: TraceStore,
    log_store: LogStore,
    prometheus: PrometheusClient,
    probe_id: str,
) -> None:
    trace, log, metric = emitter.send_correlated(probe_id)

    read_trace(trace_store, trace, patience("TRACE"))
    logs = read_logs(log_store, log, {"service.name": log.service}, probe_id, patience("LOG")).value
    kept = {r.get("trace_id") for r in logs if r.body == log.body}
    assert kept == {trace.trace_id}, (
        f"{log_store.component}: log {log.body!r} carries trace ids {kept}, expected {trace.trace_id}"
    )

    promql = f'{metric.prometheus_name}{{probe_id="{probe_id}"}}'

    def probe() -> Observation[list[str]]:
        found = [e.get("labels", {}).get("trace_id", "") for e in prometheus.exemplars(promql)]
        return Observation(found, trace.trace_id in found, f"exemplar trace ids {found[:5]}")

    waited = wait_for(
        probe,
        patience=patience("METRIC"),
        expected=f"an exemplar with trace_id {trace.trace_id} (needs exemplar storage and OpenMetrics scraping)",
        where=f"Prometheus: GET {prometheus.url('/api/v1/query_exemplars')}?query={promql}",
    )
    assert trace.trace_id in waited.value
    assert trace_store.get_trace(trace.trace_id), (
        f"{trace_store.component}: exemplar trace {trace.trace_id} does not resolve"
    )


@pytest.mark.parametrize("signal", ["spans", "log_records", "metric_points"])
def test_collector_accepts_all_and_drops_nothing(
    env: Environment,
    patience: Callable[[str], Patience],
    emitter: OtlpEmitter,
    prometheus: PrometheusClient,
    probe_id: str,
    signal: str,
) -> None:
    job = env.text("COLLECTOR_JOB")

    def total(metric: str) -> float:
        samples = prometheus.query(f'sum({{__name__=~"otelcol_{metric}_{signal}(_total)?", job="{job}"}})')
        return samples[0].value if samples else 0.0

    before = total("receiver_accepted")
    if signal == "spans":
        sent = len(emitter.send_rich_trace(probe_id).spans)
    elif signal == "log_records":
        emitter.send_log("conformance-collector", probe_id, f"collector accounting {probe_id}")
        sent = 1
    else:
        emitter.send_counter("conformance-collector", probe_id, 1)
        sent = 1

    def probe() -> Observation[float]:
        accepted = total("receiver_accepted") - before
        return Observation(accepted, accepted >= sent, f"accepted +{accepted:g}")

    wait_for(
        probe,
        patience=patience("METRIC"),
        expected=f"otelcol_receiver_accepted_{signal} of job {job} to grow by {sent}",
        where=f"Prometheus: {prometheus.query_url(f'otelcol_receiver_accepted_{signal}')}",
    )
    lost = {name: total(name) for name in ("receiver_refused", "receiver_failed", "exporter_send_failed")}
    assert not any(lost.values()), f"collector (job {job}): {signal} lost since start: {lost}, expected none"


def test_collector_runs_memory_limiter_and_batch(env: Environment, prometheus: PrometheusClient) -> None:
    promql = f'sum by (processor, otel_signal) (otelcol_processor_incoming_items{{job="{env.text("COLLECTOR_JOB")}"}})'
    running = {(s.labels.get("processor"), s.labels.get("otel_signal")) for s in prometheus.query(promql)}
    batch = prometheus.query(
        f'count(otelcol_processor_batch_batch_send_size_count{{job="{env.text("COLLECTOR_JOB")}"}})'
    )
    for signal in ("traces", "logs", "metrics"):
        assert ("memory_limiter", signal) in running, (
            f"collector: memory_limiter not in the {signal} pipeline (seen {sorted(running)})"
        )
    assert batch, "collector: the batch processor reports no batches (otelcol_processor_batch_batch_send_size)"
