"""Data older than the run cannot turn a check green: each check passes on the healthy stack, then
its producer is broken for real (a private collector, Prometheus, exporter or Alertmanager) while
the earlier data still answers, and the check run again at once fails naming the component.

Each test also shows the earlier data is really there (the old form of the check would have
passed on it), so the failure is the check's doing, not an empty backend's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests

from obs_conformance.clients.alertmanager import AlertmanagerClient
from obs_conformance.clients.polling import Observation, wait_for
from obs_conformance.envconf import load_environment
from tests.breakage import (
    alertmanager_with,
    collector_with,
    local_configs,
    prometheus_with,
    run_suites_with,
)

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.usefixtures("stack")]

HOOK = "http://127.0.0.1:18080/services/T/B/unused"


def failed_tests(stdout: str) -> list[str]:
    return sorted(line.split("::")[1].split(" ")[0] for line in stdout.splitlines() if line.startswith("FAILED"))


def query(url: str, promql: str) -> list[dict[str, Any]]:
    body = requests.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5).json()
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def test_span_metrics_of_an_earlier_run_do_not_pass_a_broken_generator(tmp_path: Path) -> None:
    check = "suites/test_traces.py::test_span_metrics_for_synthetic_services"
    healthy = run_suites_with(tmp_path, {}, check)
    assert healthy.returncode == 0, healthy.stdout[-3000:]

    collector = local_configs(tmp_path, HOOK)["otelcol.yaml"]
    del collector["connectors"]
    pipelines = collector["service"]["pipelines"]
    pipelines["traces"]["exporters"] = [e for e in pipelines["traces"]["exporters"] if e != "spanmetrics"]
    pipelines["metrics"]["receivers"] = [r for r in pipelines["metrics"]["receivers"] if r != "spanmetrics"]
    with collector_with(collector, tmp_path) as (grpc, http):
        # the healthy run's span metrics still answer: a check not tied to this run would pass on them
        env = load_environment("local", environ={})
        earlier = 'traces_spanmetrics_calls_total{service_name=~"conformance-backend.*"} >= 1'
        assert query(env.text("PROMETHEUS_URL"), earlier), earlier
        broken = run_suites_with(
            tmp_path, {"OTLP_GRPC_ENDPOINT": grpc, "OTLP_HTTP_URL": http, "METRIC_DEADLINE": "8s"}, check
        )
    assert failed_tests(broken.stdout) == ["test_span_metrics_for_synthetic_services"], broken.stdout[-3000:]
    assert "span metrics (traces_spanmetrics_calls_total) of conformance-backend-" in broken.stdout
    assert "not seen within 8s" in broken.stdout and "last seen: empty vector" in broken.stdout


class StoppedExporter(BaseHTTPRequestHandler):
    """The last page an exporter served, replayed with its own (old) timestamps, or frozen values.

    Samples with explicit timestamps get no staleness markers: they answer within Prometheus'
    lookback long after the producer stopped, as remote-written series do.
    """

    page: ClassVar[str] = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def do_GET(self) -> None:
        data = self.page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def exporter_page(stamp_ms: int | None) -> str:
    suffix = f" {stamp_ms}" if stamp_ms is not None else ""
    lines = [
        "pg_up 1",
        'pg_stat_database_xact_commit{datname="postgres"} 4242',
        'pg_stat_activity_count{datname="postgres",state="active"} 1',
        'node_cpu_seconds_total{cpu="0",mode="idle"} 123456.5',
        "node_memory_MemAvailable_bytes 8.0e+09",
    ]
    return "".join(f"{line}{suffix}\n" for line in lines)


@contextmanager
def stopped_exporter(page: str) -> Iterator[str]:
    StoppedExporter.page = page
    server = ThreadingHTTPServer(("127.0.0.1", 0), StoppedExporter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


KEY_SERIES = ["pg_up", "pg_stat_database", "pg_stat_activity", "node_cpu", "node_memory"]


@pytest.mark.parametrize(
    ("stamped", "failing"),
    [(True, KEY_SERIES), (False, ["pg_stat_database", "node_cpu"])],
    ids=["last-samples-replayed", "values-frozen"],
)
def test_key_series_of_a_stopped_exporter_fail(tmp_path: Path, stamped: bool, failing: list[str]) -> None:
    """Replayed old samples fail every key-series check; frozen values (fresh scrapes) fail the counters."""
    check = "suites/test_metrics.py::test_key_series_present"
    healthy = run_suites_with(tmp_path, {}, check)
    assert healthy.returncode == 0, healthy.stdout[-3000:]

    configs = local_configs(tmp_path, HOOK)
    old_ms = int((time.time() - 20) * 1000) if stamped else None
    with stopped_exporter(exporter_page(old_ms)) as target:
        prometheus = configs["prometheus.yml"]
        prometheus["scrape_configs"] = [
            {"job_name": job, "static_configs": [{"targets": [target]}]}
            for job in ("postgres-exporter", "node-exporter")
        ]
        with prometheus_with(prometheus, configs["rules.yml"], tmp_path, keep_scrapes=True, wait_scrape=True) as url:
            for old in ("pg_up == 1", 'count(node_cpu_seconds_total{mode="idle"}) > 0'):  # the old checks passed
                assert query(url, old), old
            broken = run_suites_with(tmp_path, {"PROMETHEUS_URL": url, "METRIC_DEADLINE": "6s"}, check)
    assert failed_tests(broken.stdout) == sorted(f"test_key_series_present[{name}]" for name in failing), broken.stdout[
        -4000:
    ]
    if stamped:
        assert "no sample since Prometheus time" in broken.stdout and "(older ones still answer:" in broken.stdout
    assert "node-exporter: node_cpu_seconds_total to grow past its value at the run's start" in broken.stdout
    assert "postgres-exporter: pg_stat_database_xact_commit to grow past its value" in broken.stdout


def test_rule_health_from_an_evaluation_before_the_check_fails(tmp_path: Path) -> None:
    """Health 'ok' from an evaluation before the check (here: 1m group intervals, the check waits 6s)."""
    check = "suites/test_rules.py::test_every_rule_evaluates_without_error"
    healthy = run_suites_with(tmp_path, {}, check)
    assert healthy.returncode == 0, healthy.stdout[-3000:]

    configs = local_configs(tmp_path, HOOK)
    rules = configs["rules.yml"]
    for group in rules["groups"]:
        group["interval"] = "1m"
    # scraping as the stack does, so the run's warm-up ends at once and the check starts right after
    # the first evaluation, well before the next one
    with prometheus_with(configs["prometheus.yml"], rules, tmp_path, keep_scrapes=True, wait_scrape=True) as url:

        def evaluated() -> Observation[bool]:
            body = requests.get(f"{url}/api/v1/rules", timeout=5).json()
            healths = [r["health"] for g in body["data"]["groups"] for r in g["rules"]]
            done = bool(healths) and all(h == "ok" for h in healths)
            return Observation(done, done, str(healths))

        wait_for(evaluated, deadline=75, expected="every rule evaluated once, healthy", where=url)
        broken = run_suites_with(tmp_path, {"PROMETHEUS_URL": url, "ALERT_DEADLINE": "6s"}, check)
    assert failed_tests(broken.stdout) == ["test_every_rule_evaluates_without_error"], broken.stdout[-3000:]
    assert "every rule evaluated after the run started" in broken.stdout
    assert " rules; not evaluated since: [" in broken.stdout and ".rules/" in broken.stdout, broken.stdout[-3000:]


def test_watchdog_left_in_alertmanager_by_a_stopped_prometheus_fails(tmp_path: Path) -> None:
    """Alertmanager keeps a Watchdog until its endsAt; nobody resending it must not pass."""
    check = "suites/test_alerting.py::test_watchdog_fires_but_never_reaches_slack"
    healthy = run_suites_with(tmp_path, {}, check)
    assert healthy.returncode == 0, healthy.stdout[-3000:]

    configs = local_configs(tmp_path, HOOK)
    env = load_environment("local", environ={})
    resend = ("--rules.alert.resend-delay=2s",)
    with (
        alertmanager_with(configs["alertmanager.yml"], tmp_path) as am_url,
        prometheus_with(configs["prometheus.yml"], configs["rules.yml"], tmp_path, extra_args=resend) as prom_url,
    ):
        # what a Prometheus that has since stopped left behind: a Watchdog with a far endsAt
        alertmanager = AlertmanagerClient(am_url, 5)
        labels = {"alertname": "Watchdog", "severity": "none", "namespace": env.text("NAMESPACE")}
        alertmanager.post_alert(labels, {"summary": "left behind"}, duration=timedelta(minutes=10))
        # resend-delay (2s here) + the env's evaluation and scrape intervals + 2s of slack, as the check computes it
        bound = 2 + env.duration("EVALUATION_INTERVAL").seconds + env.duration("SCRAPE_INTERVAL").seconds + 2

        def aged() -> Observation[float]:
            [alert] = alertmanager.alerts(['alertname="Watchdog"'])
            age = (
                datetime.now(UTC) - datetime.fromisoformat(alert["updatedAt"].replace("Z", "+00:00"))
            ).total_seconds()
            return Observation(age, age > bound + 1, f"updated {age:.1f}s ago")

        wait_for(aged, deadline=30, max_interval=0.5, expected=f"the Watchdog older than {bound}s", where=am_url)
        assert [r["name"] for r in alertmanager.alerts(['alertname="Watchdog"'])[0]["receivers"]] == ["null"]
        broken = run_suites_with(
            tmp_path, {"PROMETHEUS_URL": prom_url, "ALERTMANAGER_URL": am_url, "ALERT_DEADLINE": "5s"}, check
        )
    assert failed_tests(broken.stdout) == ["test_watchdog_fires_but_never_reaches_slack"], broken.stdout[-3000:]
    assert f"the Watchdog alert, updated by Prometheus within the last {bound:g}s" in broken.stdout, broken.stdout[
        -3000:
    ]
    assert "last seen: Watchdog alerts last updated ['" in broken.stdout
