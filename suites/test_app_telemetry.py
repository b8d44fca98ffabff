"""Telemetry shaped like an instrumented app's: logs, spans and metrics carrying only what the
OpenTelemetry operator's SDK injection sets (fixtures/app_telemetry.py) get the design's labels
from the pipeline, keep their trace context, and keep per-pod attributes out of the log index.

The other suites' records carry ``namespace`` and ``team`` themselves; an app's do not. Here the
collector must derive them (``namespace`` from ``k8s.namespace.name``, ``team`` from the env's
TEAM_BY_NAMESPACE), and the log store must index only the design's labels: a pod name or instance
id as an index label makes a stream per pod.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from obs_conformance.clients.logs import LogRecord, LogStore
from obs_conformance.clients.polling import Observation, Patience, Waited, wait_for
from obs_conformance.clients.prometheus import PrometheusClient
from obs_conformance.clients.traces import TraceStore
from obs_conformance.envconf import Environment
from obs_conformance.envconf.stack_facts import LOG_INDEX_LABELS
from obs_conformance.fixtures.app_telemetry import (
    POD_ATTRIBUTES,
    AppPod,
    SentApp,
    app_pod,
    send_app_telemetry,
    send_pod_logs,
)
from obs_conformance.fixtures.emitters import SentLog, SentMetric, SentTrace
from obs_conformance.fixtures.pipelines import read_back
from obs_conformance.fixtures.readback import assert_placement, read_logs, read_series, read_trace, since_sent
from obs_conformance.fixtures.sends_ahead import Sending, sends_ahead

LANGUAGES = ("java", "python")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def _namespace(env: Environment, language: str) -> str:
    """Java's pod in the first app namespace, Python's in the last."""
    namespaces = env.app_namespaces
    return namespaces[0] if language == "java" else namespaces[-1]


def _design_labels(env: Environment, pod: AppPod) -> dict[str, str]:
    """What the design's index labels must say about ``pod``'s telemetry."""
    return {
        "service.name": pod.service,
        "namespace": pod.namespace,
        "team": env.mapping("TEAM_BY_NAMESPACE")[pod.namespace],
        "environment": env.text("ENV_NAME"),
        "cluster": env.text("CLUSTER_NAME"),
    }


def _app(sending: Sending) -> SentApp:
    env: Environment = sending.fixture("env")
    language = sending.param("language")
    pod = app_pod(language, _namespace(env, language), sending.probe_id)
    return send_app_telemetry(sending.emitter, pod, sending.probe_id)


@dataclass(frozen=True)
class AppCheck:
    """A check of one language's app telemetry: what it sent ahead, and how its read-backs wait and are timed."""

    env: Environment
    sent: SentApp
    patience: Callable[[str], Patience]
    record_latency: Callable[[float], None]

    @property
    def pod(self) -> AppPod:
        return self.sent.pod

    def design_labels(self) -> dict[str, str]:
        return _design_labels(self.env, self.pod)

    def timed(self, waited: Waited[T], signal: SentTrace | SentLog | SentMetric) -> T:
        """What ``waited`` read back of ``signal``, its latency recorded from the send."""
        self.record_latency(since_sent(signal))
        return waited.value


@pytest.fixture
def app(
    env: Environment, sent: SentApp, patience: Callable[[str], Patience], record_latency: Callable[[float], None]
) -> AppCheck:
    return AppCheck(env, sent, patience, record_latency)


def _each_language(signal: pytest.MarkDecorator) -> Callable[[F], F]:
    """A ``signal`` check of each language's app, its telemetry sent ahead (``_app``)."""

    def decorate(test: F) -> F:
        marked: F = signal(pytest.mark.parametrize("language", LANGUAGES)(sends_ahead(_app)(test)))
        return marked

    return decorate


@_each_language(pytest.mark.logs)
def test_app_log_gets_the_design_index_labels_and_keeps_pod_attributes_as_metadata(
    app: AppCheck, log_store: LogStore, probe_id: str, language: str
) -> None:
    sent, pod = app.sent, app.pod
    selector = {"service.name": pod.service}
    records = app.timed(read_logs(log_store, sent.log, selector, probe_id, app.patience("LOG")), sent.log)

    record = next(r for r in records if r.body == sent.log.body)
    expected = app.design_labels()
    labels = {name: record.index_label(name) for name in expected}
    assert labels == expected, (
        f"{log_store.component}: the {language} app's record (resource: only the operator's injection, "
        f"k8s.namespace.name={pod.namespace}) has index labels {labels}, expected {expected}: the collector "
        "derives namespace from k8s.namespace.name and team from TEAM_BY_NAMESPACE"
    )
    assert_placement(log_store, record, LOG_INDEX_LABELS, (*POD_ATTRIBUTES, "trace_id", "span_id", "probe.id"))
    kept = {name: record.metadata(name) for name in POD_ATTRIBUTES}
    sent_attributes = {name: pod.resource_attributes()[name] for name in POD_ATTRIBUTES}
    assert kept == sent_attributes, f"{log_store.component}: pod attributes stored as {kept}, sent {sent_attributes}"
    context = {"trace_id": record.get("trace_id"), "span_id": record.get("span_id")}
    wanted = {"trace_id": sent.log.trace_id, "span_id": sent.log.span_id}
    assert context == wanted, f"{log_store.component}: record {sent.log.body!r} kept {context}, expected {wanted}"


@_each_language(pytest.mark.traces)
def test_app_spans_get_the_design_attributes_and_keep_their_links(
    app: AppCheck, trace_store: TraceStore, language: str
) -> None:
    sent = app.sent
    spans = app.timed(read_trace(trace_store, sent.trace, app.patience("TRACE")), sent.trace)
    stored = {span.span_id: span for span in spans}
    expected_resource = app.design_labels() | app.pod.resource_attributes()
    for want in sent.trace.spans:
        got = stored[want.span_id]
        shape = (got.name, got.parent_span_id, got.kind, got.attributes.get("probe.id"))
        wanted = (want.name, want.parent_span_id, want.kind, want.attributes["probe.id"])
        assert shape == wanted, (
            f"{trace_store.component}: span {want.span_id} of trace {sent.trace.trace_id} stored as "
            f"(name, parent, kind, probe.id)={shape}, expected {wanted}"
        )
        resource = {name: got.resource.get(name) for name in expected_resource}
        assert resource == expected_resource, (
            f"{trace_store.component}: the {language} app's span {want.name!r} has resource {resource}, "
            f"expected {expected_resource} (namespace and team derived by the collector, the pod's own kept)"
        )


@_each_language(pytest.mark.metrics)
def test_app_metric_series_and_target_info_get_the_design_labels(
    app: AppCheck, prometheus: PrometheusClient, language: str
) -> None:
    """The prometheus exporter names a series' job ``<service.namespace>/<service.name>`` and its instance
    ``service.instance.id``; its series carry the app's ``namespace`` (the design's label); the other resource
    attributes are labels of ``target_info`` of the same job and instance, never of every series (a pod
    name on each series is the cardinality to avoid)."""
    sent, pod = app.sent, app.pod
    samples = app.timed(read_series(prometheus, sent.metric, app.patience("METRIC")), sent.metric)

    [series] = [s for s in samples if s.value == sent.metric.value]
    identity = {"job": series.labels.get("job"), "instance": series.labels.get("instance")}
    wanted_identity = {"job": f"{pod.namespace}/{pod.service}", "instance": pod.instance}
    assert identity == wanted_identity, f"Prometheus: {sent.metric.prometheus_name} has {identity}"
    on_series = sorted(k for k in series.labels if k.startswith("k8s_") or k == "k8s.pod.name")
    assert not on_series, f"Prometheus: resource attributes on every series: {on_series} ({series.labels})"
    # scraped from the collector, a series without its own namespace would get the collector's
    assert series.labels.get("namespace") == pod.namespace, (
        f"Prometheus: {sent.metric.prometheus_name} has namespace={series.labels.get('namespace')!r}, "
        f"expected the app's {pod.namespace!r} (set by the collector from k8s.namespace.name) ({series.labels})"
    )

    promql = f'target_info{{job="{pod.namespace}/{pod.service}",instance="{pod.instance}"}}'
    design = {name: value for name, value in app.design_labels().items() if name != "service.name"}
    expected = design | {"k8s_pod_name": pod.pod, "k8s_node_name": pod.node}

    def probe() -> Observation[dict[str, str | None]]:
        samples = prometheus.query(promql)
        labels = {name: samples[0].labels.get(name) for name in expected} if samples else {}
        return Observation(labels, labels == expected, f"{len(samples)} series: {labels}" if samples else "empty")

    wait_for(
        probe,
        patience=app.patience("METRIC"),
        expected=f"target_info with {expected} (namespace and team derived by the collector)",
        where=f"{prometheus.component}: GET {prometheus.query_url(promql)}",
    )


def _pods(sending: Sending) -> list[SentLog]:
    """Three replicas of the Python app, the first with a second instrumented container."""
    env: Environment = sending.fixture("env")
    namespace, probe = _namespace(env, "python"), sending.probe_id
    pods = [app_pod("python", namespace, probe, replica) for replica in range(3)]
    pods.append(app_pod("python", namespace, probe, 0, container="worker"))
    return send_pod_logs(sending.emitter, pods, probe)


def _stream_key(record: LogRecord) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(record.labels.items()))


def _design_name(label: str) -> str:
    return label.replace("_", ".") if label.replace("_", ".") in LOG_INDEX_LABELS else label


@pytest.mark.logs
@sends_ahead(_pods)
def test_app_logs_make_one_stream_per_service_not_per_pod(
    env: Environment, patience: Callable[[str], Patience], sent: list[SentLog], log_store: LogStore, probe_id: str
) -> None:
    """This run's records (found by the probe id they carry) of one service in one namespace, from
    three pods and two containers, are one stream; the labels that split them or that the design
    does not index are named."""
    selector = {"service.name": sent[0].service}
    bodies = {log.body for log in sent}

    def probe() -> Observation[list[LogRecord]]:
        records = [r for r in log_store.find(selector, probe_id) if r.body in bodies]
        found = {r.body for r in records}
        return Observation(records, found == bodies, f"{len(found)} of {len(bodies)} records")

    records = read_back(
        probe,
        component=log_store.component,
        nothing=lambda records: not records,
        patience=patience("LOG"),
        sent_at=min(log.sent_at for log in sent),
        expected=f"{len(bodies)} records of {len(bodies)} pod containers (sent via the collector)",
        where=f"{log_store.component}: {log_store.query_url(selector, probe_id)}",
    ).value
    streams = {_stream_key(r) for r in records}
    stored = {name for stream in streams for name, _ in stream}
    extra = sorted({_design_name(name) for name in stored} - set(LOG_INDEX_LABELS))
    splitting = sorted(_design_name(name) for name in stored if len({dict(s).get(name) for s in streams}) > 1)
    assert len(streams) == 1 and not extra, (
        f"{log_store.component}: {len(records)} records of one service in one namespace from "
        f"{len(bodies)} pod containers made {len(streams)} stream(s); index labels beyond the design's "
        f"{list(LOG_INDEX_LABELS)}: {extra} (splitting the streams: {splitting})"
    )
