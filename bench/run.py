"""Benchmark of the conformance suite on the local stack: ``python -m bench.run [--cold]``.

Prints, with the machine's core count: warm (and optionally cold) start of the
local stack and the warm start of the local control plane (--env kwok); wall time
of the full suite (-n auto) and of -m smoke; each
pipeline's inherent latency by tight polling; suite time over the slowest
pipeline; a 10,000 + 10,000 span/log burst counted back; the unit tests' time.
Then each target of issue 8 with PASS or MISS. Measured, never asserted: this is
not a timed test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import requests

from clients import registry
from clients.polling import Observation, Patience, wait_for
from deployer.local.stack import LocalStack
from envconf import Environment, load_environment
from fixtures.emitters import OtlpEmitter
from fixtures.readback import read_logs, read_series, read_trace

ROOT = Path(__file__).resolve().parent.parent
TIGHT = Patience(deadline=60, max_interval=0.01)


def timed(what: str, fn: Callable[[], object]) -> float:
    start = time.monotonic()
    fn()
    seconds = time.monotonic() - start
    print(f"  {what}: {seconds:.2f}s", flush=True)
    return seconds


def pytest_wall(*args: str) -> float:
    argv = [sys.executable, "-m", "pytest", *args, "-q", "--no-reports", "-p", "no:cacheprovider"]
    start = time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False)
    seconds = time.monotonic() - start
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-200:]
    print(f"  pytest {' '.join(args)}: {seconds:.2f}s ({last})", flush=True)
    return seconds


def pipeline_latencies(env: Environment, emitter: OtlpEmitter, samples: int) -> dict[str, list[float]]:
    traces, logs, prometheus = registry.trace_store(env), registry.log_store(env), registry.prometheus(env)
    mock = registry.slack_mock(env)
    result: dict[str, list[float]] = {
        "span -> trace store": [],
        "log -> log store": [],
        "metric -> Prometheus": [],
        "rule -> Alertmanager -> Slack mock": [],
    }
    for _ in range(samples):
        probe = f"bench-{uuid.uuid4().hex[:10]}"
        sent = emitter.send_trace("bench-traces", probe)
        result["span -> trace store"].append(read_trace(traces, sent, TIGHT).seconds)
        log = emitter.send_log("bench-logs", probe, f"bench log {probe}")
        result["log -> log store"].append(read_logs(logs, log, {"service.name": "bench-logs"}, probe, TIGHT).seconds)
        metric = emitter.send_counter("bench-metrics", probe, 1)
        result["metric -> Prometheus"].append(read_series(prometheus, metric, TIGHT).seconds)
        start = time.monotonic()
        emitter.send_gauge("bench-alerting", "conformance.alert_trigger", {"run_id": probe}, 1)

        def seen(probe: str = probe) -> Observation[int]:
            found = len(mock.messages(contains=probe))
            return Observation(found, found > 0, f"{found}")

        wait_for(seen, deadline=60, max_interval=0.01, expected="slack message", where="mock")
        result["rule -> Alertmanager -> Slack mock"].append(time.monotonic() - start)
        emitter.send_gauge("bench-alerting", "conformance.alert_trigger", {"run_id": probe}, 0)
    return result


def burst(env: Environment, emitter: OtlpEmitter, spans: int, logs: int) -> None:
    """Send ``spans`` spans (in traces of 100) and ``logs`` records, then count every one back."""
    from opentelemetry._logs import LogRecord, SeverityNumber
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    probe = f"burst-{uuid.uuid4().hex[:10]}"
    endpoint = str(env.endpoint("OTLP_GRPC_ENDPOINT"))
    resource = Resource.create({"service.name": "bench-burst", "run.id": probe})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=endpoint, insecure=True), max_queue_size=spans + 1, max_export_batch_size=512
        )
    )
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(
            OTLPLogExporter(endpoint=endpoint, insecure=True), max_queue_size=logs + 1, max_export_batch_size=512
        )
    )
    tracer = tracer_provider.get_tracer("bench")
    logger = logger_provider.get_logger("bench")
    trace_ids: list[str] = []
    start = time.monotonic()
    for _ in range(spans // 100):
        with tracer.start_as_current_span("burst-root", attributes={"probe.id": probe}) as root:
            for i in range(99):
                with tracer.start_as_current_span(f"burst-{i}"):
                    pass
        trace_ids.append(format(root.get_span_context().trace_id, "032x"))
    for i in range(logs):
        logger.emit(
            LogRecord(
                timestamp=time.time_ns(),
                body=f"{probe} record {i}",
                severity_number=SeverityNumber.INFO,
                attributes={"probe.id": probe},
            )
        )
    tracer_provider.force_flush(120_000)
    logger_provider.force_flush(120_000)
    sent_seconds = time.monotonic() - start
    tracer_provider.shutdown()
    logger_provider.shutdown()
    print(
        f"  sent {spans} spans + {logs} log records in {sent_seconds:.2f}s ({(spans + logs) / sent_seconds:,.0f} items/s)"
    )

    traces = registry.trace_store(env)
    counted_start = time.monotonic()
    stored_spans = 0
    for trace_id in trace_ids:

        def whole(trace_id: str = trace_id) -> Observation[int]:
            count = len(traces.get_trace(trace_id))
            return Observation(count, count >= 100, f"{count} spans")

        stored_spans += wait_for(
            whole, deadline=120, max_interval=0.2, expected=f"trace {trace_id} with 100 spans", where=traces.component
        ).value
    logs_url = env.text("LOGS_URL")

    def logs_back() -> Observation[int]:
        body = requests.get(
            f"{logs_url}/select/logsql/query", params={"query": f'"probe.id":="{probe}" | count() as n'}, timeout=30
        ).text
        count = int(body.split('"n":"', 1)[1].split('"', 1)[0]) if '"n":"' in body else 0
        return Observation(count, count >= logs, f"{count} records")

    stored_logs = wait_for(logs_back, deadline=120, max_interval=0.2, expected=f"{logs} records", where=logs_url).value
    print(
        f"  counted back {stored_spans}/{spans} spans and {stored_logs}/{logs} log records in {time.monotonic() - counted_start:.2f}s"
    )
    lost = (spans - stored_spans) + (logs - stored_logs)
    print(f"  lost: {lost}  {'PASS' if lost == 0 else 'MISS'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="also measure a cold start (fresh build cache, minutes)")
    parser.add_argument("--samples", type=int, default=5, help="latency samples per pipeline")
    args = parser.parse_args()
    env = load_environment("local")
    stack = LocalStack(env)
    print(f"machine: {os.cpu_count()} cores; env local; python {sys.version.split()[0]}")

    print("local stack")
    stack.up()
    stack.down()
    warm = timed("warm start (binaries cached)", stack.up)
    if args.cold:
        with tempfile.TemporaryDirectory() as cache:
            os.environ["OBSCONF_CACHE"] = cache
            stack.down()
            timed("cold start (Go builds from the module proxy)", stack.up)
            del os.environ["OBSCONF_CACHE"]
            stack.down()
            stack.up()
    else:
        print("  cold start: not measured (use --cold; CI measured it on a fresh machine)")

    print("local control plane (--env kwok: etcd, Kubernetes, kwok, the operators; what is deployed stays)")
    kube = LocalStack(load_environment("kwok"))
    kube.up()
    kube.down()
    kube_warm = timed("warm start (binaries cached)", kube.up)

    print("pipeline latency (tight polling, 10 ms)")
    emitter = OtlpEmitter(env, f"bench-{uuid.uuid4().hex[:6]}")
    latencies = pipeline_latencies(env, emitter, args.samples)
    for name, values in latencies.items():
        print(f"  {name}: median {statistics.median(values):.3f}s, max {max(values):.3f}s (n={len(values)})")
    slowest = max(statistics.median(v) for v in latencies.values())

    print("polling resolution (same pipeline, the suite's back-off vs 10 ms polls)")
    suite_patience = Patience(60, env.duration("POLL_MAX_INTERVAL").seconds)
    metrics_client = registry.prometheus(env)
    tight, suite = [], []
    for i in range(2 * args.samples):
        metric = emitter.send_counter("bench-resolution", f"res-{uuid.uuid4().hex[:8]}", 1)
        (tight if i % 2 else suite).append(
            read_series(metrics_client, metric, TIGHT if i % 2 else suite_patience).seconds
        )
    gap = statistics.median(suite) - statistics.median(tight)
    print(
        f"  metric -> Prometheus: suite poller median {statistics.median(suite):.3f}s, tight {statistics.median(tight):.3f}s, gap {gap * 1000:+.0f} ms"
    )

    print("suite wall time")
    full = pytest_wall("suites", "-n", "auto", "--env", "local")
    smoke = pytest_wall("suites", "-m", "smoke", "-n", "auto", "--env", "local")
    unit = pytest_wall("tests", "-m", "not stack")
    print(f"  full suite / slowest pipeline: {full / slowest:.1f}x")

    print("burst")
    burst(env, emitter, 10_000, 10_000)

    print("targets")
    checks = [
        (
            f"full suite <= 1.5 x slowest pipeline + 5 s ({1.5 * slowest + 5:.1f}s)",
            full <= 1.5 * slowest + 5,
            f"{full:.1f}s",
        ),
        ("warm start <= 15 s", warm <= 15, f"{warm:.1f}s"),
        ("control plane warm start <= 15 s", kube_warm <= 15, f"{kube_warm:.1f}s"),
        ("unit tests <= 30 s", unit <= 30, f"{unit:.1f}s"),
        ("smoke subset (no target; under a minute on dev asked)", smoke <= 60, f"{smoke:.1f}s"),
        ("poll resolution within 100 ms of tight polling", abs(gap) <= 0.1, f"{gap * 1000:+.0f} ms"),
    ]
    for what, ok, seen in checks:
        print(f"  {'PASS' if ok else 'MISS'}  {what}: {seen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
