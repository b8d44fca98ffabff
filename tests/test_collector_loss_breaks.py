"""The collector-loss check on a long-running collector: loss is counted within the run's window.

A private collector (the local stack's config) exports logs to a private backend that refuses while
told to (HTTP 400, a permanent error: the collector counts the send as failed); a private Prometheus
scrapes the collector's telemetry as the stack's does. A log record refused before the run (the
collector keeps counting it, as one running for weeks keeps an old outage) leaves a clean run green;
the same refusal during the run (a plugin causes it at the session's start, after the run's start is
taken) turns it red, naming the counter, expected and actual.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests

from obs_conformance.clients.polling import Observation, wait_for
from tests.breakage import local_configs, run_suites_with, scraped_collector
from tests.collector_loss_during_run import cause_export_failure

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.usefixtures("stack")]

HOOK = "http://127.0.0.1:18080/services/T/B/unused"
CHECK = "suites/test_correlation.py::test_collector_accepts_all_and_drops_nothing"
SEND_FAILED = '{__name__=~"otelcol_exporter_send_failed_log_records(_total)?", job="otel-collector"}'


def failed_tests(stdout: str) -> list[str]:
    return sorted(line.split("::")[1].split(" ")[0] for line in stdout.splitlines() if line.startswith("FAILED"))


class LogsBackend(BaseHTTPRequestHandler):
    """Accepts OTLP/HTTP exports (200, an empty response) unless told to refuse (POST /refuse; /accept repairs)."""

    refusing: ClassVar[bool] = False

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path in ("/refuse", "/accept"):
            LogsBackend.refusing = self.path == "/refuse"
            status = 200
        else:
            status = 400 if LogsBackend.refusing else 200
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def logs_backend() -> Iterator[str]:
    LogsBackend.refusing = False
    server = ThreadingHTTPServer(("127.0.0.1", 0), LogsBackend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_send_failed_before_the_run_is_not_this_runs_loss(
    tmp_path: Path, logs_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    configs = local_configs(tmp_path, HOOK)
    collector = configs["otelcol.yaml"]
    collector["exporters"]["otlp_http/logs"]["logs_endpoint"] = f"{logs_backend}/v1/logs"
    with scraped_collector(configs, tmp_path) as (grpc, http, url, telemetry):
        where = {"backend": logs_backend, "otlp_http": http, "telemetry": f"http://127.0.0.1:{telemetry}/metrics"}
        failed = cause_export_failure(**where)

        # Prometheus holds the loss from before the run: a check counting since the collector started is red
        def scraped() -> Observation[float]:
            body = requests.get(f"{url}/api/v1/query", params={"query": f"sum({SEND_FAILED})"}, timeout=5).json()
            value = float(body["data"]["result"][0]["value"][1]) if body["data"]["result"] else 0.0
            return Observation(value, value >= failed, f"sum {value:g}")

        wait_for(scraped, deadline=30, expected=f"send failures {failed:g} scraped", where=f"{url} {SEND_FAILED}")
        overrides = {"OTLP_GRPC_ENDPOINT": grpc, "OTLP_HTTP_URL": http, "PROMETHEUS_URL": url}
        clean = run_suites_with(tmp_path, overrides, CHECK)
        assert clean.returncode == 0, clean.stdout[-4000:]
        assert "3 passed" in clean.stdout, clean.stdout[-4000:]

        # the same refusal during the run, by a plugin at the session's start: the same collector, still counting
        monkeypatch.setenv("OBSCONF_TEST_COLLECTOR_LOSS", json.dumps(where))
        lossy = run_suites_with(tmp_path, overrides, CHECK, "-p", "tests.collector_loss_during_run")
    assert failed_tests(lossy.stdout) == ["test_collector_accepts_all_and_drops_nothing[log_records]"], lossy.stdout[
        -4000:
    ]
    assert "collector (job otel-collector): log_records lost during the run (growth since Prometheus time" in (
        lossy.stdout
    ), lossy.stdout[-4000:]
    assert "'exporter_send_failed': 1.0}, expected none" in lossy.stdout, lossy.stdout[-4000:]
