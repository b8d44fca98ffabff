"""Across signals: one request as a trace, a log with its trace id and an exemplar of it, joined in
all three backends; and the collector accepted everything it was sent, refusing and dropping nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from obs_conformance.clients.kubernetes import KubernetesClient
from obs_conformance.clients.logs import LogStore
from obs_conformance.clients.polling import Observation, Patience, wait_for
from obs_conformance.clients.prometheus import PrometheusClient, Sample
from obs_conformance.clients.traces import TraceStore
from obs_conformance.envconf import Environment
from obs_conformance.fixtures.collector_config import CollectorConfigError, local_collector_config
from obs_conformance.fixtures.emitters import SentLog, SentMetric, SentTrace
from obs_conformance.fixtures.readback import (
    SeriesKey,
    current_values,
    fresh,
    grown_by,
    on_prometheus_clock,
    prometheus_time,
    read_logs,
    read_trace,
    series_values,
)
from obs_conformance.fixtures.sends_ahead import Sending, sends_ahead

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


def collector_selector(env: Environment, metric: str, signal: str) -> str:
    return f'{{__name__=~"otelcol_{metric}_{signal}(_total)?", job="{env.text("COLLECTOR_JOB")}"}}'


@dataclass(frozen=True)
class Counted:
    """A send and the collector's counters just before it: on Prometheus' clock, series by series."""

    items: int
    since: float
    before: dict[SeriesKey, Sample]


def _one_of_signal(sending: Sending) -> Counted:
    """The receiver's accepted counter read, then the check's signal sent: a whole trace's spans, a record, a point.

    The baseline is read at the send (after the stack's warm-up), not at the run's start: a
    collector restarted just before the run would otherwise compare its own count with its
    predecessor's last one.
    """
    prometheus: PrometheusClient = sending.fixture("prometheus")
    signal, probe_id = sending.param("signal"), sending.probe_id
    selector = collector_selector(sending.fixture("env"), "receiver_accepted", signal)
    env: Environment = sending.fixture("env")
    since = prometheus_time(prometheus)
    before = current_values(prometheus, selector, since, env.duration("SCRAPE_INTERVAL").seconds)
    if signal == "spans":
        return Counted(len(sending.emitter.send_rich_trace(probe_id).spans), since, before)
    if signal == "log_records":
        sending.emitter.send_log("conformance-collector", probe_id, f"collector accounting {probe_id}")
    else:
        sending.emitter.send_counter("conformance-collector", probe_id, 1)
    return Counted(1, since, before)


@pytest.mark.parametrize("signal", ["spans", "log_records", "metric_points"])
@sends_ahead(_one_of_signal)
def test_collector_accepts_all_and_drops_nothing(
    env: Environment,
    patience: Callable[[str], Patience],
    sent: Counted,
    prometheus: PrometheusClient,
    signal: str,
    run_started: float,
) -> None:
    """The receiver's accepted count grew by at least what this check sent, in samples taken after the send;
    and nothing was refused, failed or failed to send during the run.

    Loss is counted within the run's window, series by series: each counter's growth from its value
    at the run's start (``@`` the start) to its latest sample, a drop read as a restart from 0
    (``counter_growth``). A long-running collector's loss from before the run (an old outage of a
    backend) is not this run's, and never turns it red.
    """
    job = env.text("COLLECTOR_JOB")
    run_start = on_prometheus_clock(prometheus, run_started)

    def lost_in_run(metric: str) -> float:
        selector = collector_selector(env, metric, signal)
        before = series_values(prometheus, f"{selector} @ {run_start:.3f}")
        return sum(grown_by(before, series_values(prometheus, fresh(selector, run_start))).values())

    accepted_query = fresh(collector_selector(env, "receiver_accepted", signal), sent.since)

    def probe() -> Observation[float]:
        accepted = sum(grown_by(sent.before, series_values(prometheus, accepted_query)).values())
        return Observation(accepted, accepted >= sent.items, f"accepted +{accepted:g} in samples after the send")

    wait_for(
        probe,
        patience=patience("METRIC"),
        expected=f"otelcol_receiver_accepted_{signal} of job {job} to grow by {sent.items}, series by series",
        where=f"Prometheus: GET {prometheus.query_url(accepted_query)}",
    )
    lost = {name: lost_in_run(name) for name in ("receiver_refused", "receiver_failed", "exporter_send_failed")}
    assert not any(lost.values()), (
        f"collector (job {job}): {signal} lost during the run (growth since Prometheus time {run_start:.3f}, "
        f"the run's start): {lost}, expected none"
    )


REQUIRED_PROCESSORS = ("memory_limiter", "resource", "batch")
SIGNALS = ("traces", "logs", "metrics")
# processors built on processorhelper report items per signal in the collector's own telemetry
PER_SIGNAL_TELEMETRY = ("memory_limiter", "resource")


def running_collector_config(request: pytest.FixtureRequest, env: Environment) -> tuple[dict[str, Any], str]:
    """The config the running collector uses: locally its process' --config, on clusters its resource."""
    if env.profile.stack_as_processes:
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


def processor_selectors(env: Environment) -> tuple[str, str]:
    job = env.text("COLLECTOR_JOB")
    items = f'{{__name__=~"otelcol_processor_incoming_items(_total)?", job="{job}"}}'
    batches = f'{{__name__=~"otelcol_processor_batch_batch_send_size_count", job="{job}"}}'
    return items, batches


def _one_of_each(sending: Sending) -> tuple[Counted, Counted]:
    """The processors' counters read, then one span, one log record and one metric point sent."""
    prometheus: PrometheusClient = sending.fixture("prometheus")
    env: Environment = sending.fixture("env")
    items, batches = processor_selectors(env)
    since, interval = prometheus_time(prometheus), env.duration("SCRAPE_INTERVAL").seconds
    counted = (
        Counted(3, since, current_values(prometheus, items, since, interval)),
        Counted(3, since, current_values(prometheus, batches, since, interval)),
    )
    emitter, probe_id = sending.emitter, sending.probe_id
    emitter.send_trace("conformance-pipelines", probe_id)
    emitter.send_log("conformance-pipelines", probe_id, f"pipeline probe {probe_id}")
    emitter.send_counter("conformance-pipelines", probe_id, 1)
    return counted


@sends_ahead(_one_of_each)
def test_collector_runs_every_required_processor_in_every_pipeline(
    request: pytest.FixtureRequest,
    env: Environment,
    patience: Callable[[str], Patience],
    sent: tuple[Counted, Counted],
    prometheus: PrometheusClient,
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
    selector, batches = processor_selectors(env)
    counted, batched = sent
    since, before, batched_before = counted.since, counted.before, batched.before
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
            f"{list(SIGNALS)}, and a batch sent, after one span, log and metric were sent"
        ),
        where=f"Prometheus: GET {prometheus.query_url(fresh_items)}",
    )
