"""Across signals: one request as a trace, a log with its trace id and an exemplar of it, joined in
all three backends; and the collector accepted everything it was sent, refusing and dropping nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from clients.kubernetes import KubernetesClient
from clients.logs import LogStore
from clients.polling import Observation, Patience, wait_for
from clients.prometheus import PrometheusClient
from clients.traces import TraceStore
from envconf import Environment
from fixtures.ahead import Sending, sends_ahead
from fixtures.collector_config import CollectorConfigError, local_collector_config
from fixtures.emitters import SentLog, SentMetric, SentTrace
from fixtures.readback import fresh, grown_by, on_prometheus_clock, read_logs, read_trace, series_values

pytestmark = [pytest.mark.traces, pytest.mark.logs, pytest.mark.metrics]


def _correlated(sending: Sending) -> tuple[SentTrace, SentLog, SentMetric]:
    return sending.emitter.send_correlated(sending.probe_id)


@sends_ahead(_correlated)
def test_trace_log_and_exemplar_join_across_backends(
    patience: Callable[[str], Patience],
    sent: tuple[SentTrace, SentLog, SentMetric],
    trace_store: TraceStore,
    log_store: LogStore,
    prometheus: PrometheusClient,
    probe_id: str,
) -> None:
    trace, log, metric = sent

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


def _one_of_signal(sending: Sending) -> int:
    """Items of the check's signal sent through the collector: a whole trace's spans, one record, one point."""
    signal, probe_id = sending.param("signal"), sending.probe_id
    if signal == "spans":
        return len(sending.emitter.send_rich_trace(probe_id).spans)
    if signal == "log_records":
        sending.emitter.send_log("conformance-collector", probe_id, f"collector accounting {probe_id}")
    else:
        sending.emitter.send_counter("conformance-collector", probe_id, 1)
    return 1


@pytest.mark.parametrize("signal", ["spans", "log_records", "metric_points"])
@sends_ahead(_one_of_signal)
def test_collector_accepts_all_and_drops_nothing(
    env: Environment,
    patience: Callable[[str], Patience],
    sent: int,
    prometheus: PrometheusClient,
    run_started: float,
    signal: str,
) -> None:
    """The receiver's accepted count grew by at least what this check sent, since the run started."""
    job = env.text("COLLECTOR_JOB")

    def selector(metric: str) -> str:
        return f'{{__name__=~"otelcol_{metric}_{signal}(_total)?", job="{job}"}}'

    def total(metric: str) -> float:
        samples = prometheus.query(f"sum({selector(metric)})")
        return samples[0].value if samples else 0.0

    accepted_selector = selector("receiver_accepted")
    # the baseline is each series' value at the run's start; the send came after it
    run_start = on_prometheus_clock(prometheus, run_started)
    before = series_values(prometheus, f"{accepted_selector} @ {run_start:.3f}")
    accepted_query = fresh(accepted_selector, run_start)

    def probe() -> Observation[float]:
        accepted = sum(grown_by(before, series_values(prometheus, accepted_query)).values())
        return Observation(accepted, accepted >= sent, f"accepted +{accepted:g} since the run started")

    wait_for(
        probe,
        patience=patience("METRIC"),
        expected=(
            f"otelcol_receiver_accepted_{signal} of job {job} to grow by {sent} since the run started "
            f"(Prometheus time {run_start:.3f}), series by series"
        ),
        where=f"Prometheus: GET {prometheus.query_url(accepted_query)}",
    )
    lost = {name: total(name) for name in ("receiver_refused", "receiver_failed", "exporter_send_failed")}
    assert not any(lost.values()), f"collector (job {job}): {signal} lost since start: {lost}, expected none"


REQUIRED_PROCESSORS = ("memory_limiter", "resource", "batch")
SIGNALS = ("traces", "logs", "metrics")
# processors built on processorhelper report items per signal in the collector's own telemetry
PER_SIGNAL_TELEMETRY = ("memory_limiter", "resource")


def running_collector_config(request: pytest.FixtureRequest, env: Environment) -> tuple[dict[str, Any], str]:
    """The config the running collector uses: locally its process' --config, on clusters its resource."""
    if env.is_local:
        try:
            return local_collector_config(str(env.endpoint("OTLP_GRPC_ENDPOINT")))
        except CollectorConfigError as e:
            pytest.fail(f"collector: {e}")
    kube: KubernetesClient = request.getfixturevalue("kube")
    namespace = env.text("NAMESPACE")
    collector = kube.get(
        f"/apis/opentelemetry.io/v1beta1/namespaces/{namespace}/opentelemetrycollectors/otel-collector"
    )
    assert collector is not None, f"OpenTelemetry operator: OpenTelemetryCollector {namespace}/otel-collector not found"
    config: dict[str, Any] = collector["spec"]["config"]
    return config, f"OpenTelemetryCollector {namespace}/otel-collector"


def signal_of(labels: dict[str, str]) -> str:
    """The signal label as 2.x escapes it (``otel_signal``) or 3.x keeps it (``otel.signal``)."""
    return labels.get("otel_signal") or labels.get("otel.signal") or ""


def _one_of_each(sending: Sending) -> None:
    emitter, probe_id = sending.emitter, sending.probe_id
    emitter.send_trace("conformance-pipelines", probe_id)
    emitter.send_log("conformance-pipelines", probe_id, f"pipeline probe {probe_id}")
    emitter.send_counter("conformance-pipelines", probe_id, 1)


@sends_ahead(_one_of_each)
def test_collector_runs_every_required_processor_in_every_pipeline(
    request: pytest.FixtureRequest,
    env: Environment,
    patience: Callable[[str], Patience],
    sent: None,
    prometheus: PrometheusClient,
    run_started: float,
) -> None:
    """memory_limiter, resource (cluster, environment) and batch in the traces, logs and metrics pipelines,
    by the running collector's config, and processing this run's data by its own telemetry."""
    config, where = running_collector_config(request, env)
    pipelines: dict[str, dict[str, Any]] = config.get("service", {}).get("pipelines", {})
    problems = [f"no {signal} pipeline" for signal in SIGNALS if not any(n.split("/")[0] == signal for n in pipelines)]
    for name, pipeline in sorted(pipelines.items()):
        processors = list(pipeline.get("processors") or [])
        missing = [p for p in REQUIRED_PROCESSORS if p not in processors]
        if missing:
            problems.append(f"pipeline {name} runs processors {processors}, missing {missing}")
    assert not problems, f"collector ({where}): " + "; ".join(problems) + f" (pipelines: {sorted(pipelines)})"

    job = env.text("COLLECTOR_JOB")
    selector = f'{{__name__=~"otelcol_processor_incoming_items(_total)?", job="{job}"}}'
    batches = f'{{__name__=~"otelcol_processor_batch_batch_send_size_count", job="{job}"}}'

    since = on_prometheus_clock(
        prometheus, run_started
    )  # the baselines are the values then; one span, log and metric were sent after it
    before = series_values(prometheus, f"{selector} @ {since:.3f}")
    batched_before = series_values(prometheus, f"{batches} @ {since:.3f}")
    wanted = [(p, s) for p in PER_SIGNAL_TELEMETRY for s in SIGNALS]
    fresh_items = fresh(selector, since)

    def probe() -> Observation[list[tuple[str, str]]]:
        grown = grown_by(before, series_values(prometheus, fresh_items))
        done = {(dict(key).get("processor", ""), signal_of(dict(key))) for key, delta in grown.items() if delta > 0}
        idle = [key for key in wanted if key not in done]
        batched = any(
            d > 0 for d in grown_by(batched_before, series_values(prometheus, fresh(batches, since))).values()
        )
        shown = (
            f"not grown: {idle}" + ("" if batched else "; batch processor sent no batch") + f"; grew: {sorted(done)}"
        )
        return Observation(idle, not idle and batched, shown)

    wait_for(
        probe,
        patience=patience("METRIC"),
        expected=(
            f"otelcol_processor_incoming_items of job {job} to grow for {list(PER_SIGNAL_TELEMETRY)} in each of "
            f"{list(SIGNALS)}, and a batch sent, since the run started (Prometheus time {since:.3f}; "
            "this check sent one span, log and metric)"
        ),
        where=f"Prometheus: GET {prometheus.query_url(fresh_items)}",
    )
