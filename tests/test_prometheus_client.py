"""The Prometheus client over prometheus-api-client, against a canned HTTP API on loopback:
answers become samples and targets, failures name Prometheus, the URL and what came back."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from obs_conformance.clients.errors import BackendError, BackendUnreachable
from obs_conformance.clients.prometheus import PrometheusClient

VECTOR = {"resultType": "vector", "result": [{"metric": {"job": "a", "otel.signal": "metrics"}, "value": [1, "2.5"]}]}
SCALAR = {"resultType": "scalar", "result": [1, "7"]}
TARGETS = {
    "activeTargets": [
        {"labels": {"job": "node", "instance": "127.0.0.1:1"}, "health": "up", "lastError": "", "scrapeInterval": "1s"}
    ],
    "droppedTargets": [],
}


class _Api(BaseHTTPRequestHandler):
    seen: list[str] = []  # noqa: RUF012 - one server per test

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self.seen.append(self.path)
        if url.path == "/api/v1/targets":
            self._send(200, {"status": "success", "data": TARGETS})
        elif query.get("query") == ["scalar(1)"]:
            self._send(200, {"status": "success", "data": SCALAR})
        elif query.get("query") == ["down"]:
            self._send(503, {"status": "error", "error": "not ready"})
        elif query.get("query") == ["bad("]:
            self._send(400, {"status": "error", "errorType": "bad_data", "error": "unclosed left parenthesis"})
        else:
            self._send(200, {"status": "success", "data": VECTOR})

    def _send(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class names it
        pass


@pytest.fixture
def prometheus() -> Iterator[PrometheusClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    # shutdown() waits up to one poll interval (0.5 s by default) at every teardown
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield PrometheusClient(f"http://127.0.0.1:{server.server_address[1]}", timeout=5)
    finally:
        server.shutdown()
        server.server_close()


def test_query_returns_samples_with_utf8_labels(prometheus: PrometheusClient) -> None:
    samples = prometheus.query('{"otel.signal"="metrics"}')
    assert [(s.labels, s.value) for s in samples] == [({"job": "a", "otel.signal": "metrics"}, 2.5)]


def test_targets(prometheus: PrometheusClient) -> None:
    [target] = prometheus.targets()
    assert (target.job, target.instance, target.health, target.scrape_interval) == ("node", "127.0.0.1:1", "up", "1s")


def test_a_scalar_is_not_an_instant_vector(prometheus: PrometheusClient) -> None:
    with pytest.raises(BackendError, match=r"Prometheus: 'scalar\(1\)' gave .*not an instant vector"):
        prometheus.query("scalar(1)")


def test_a_bad_query_is_a_backend_error_with_the_answer(prometheus: PrometheusClient) -> None:
    with pytest.raises(BackendError) as caught:
        prometheus.query("bad(")
    assert not isinstance(caught.value, BackendUnreachable)  # never retried
    assert caught.value.status == 400
    assert "/api/v1/query?query=bad%28 answered 400" in str(caught.value)
    assert "unclosed left parenthesis" in str(caught.value)


def test_5xx_is_unreachable_and_not_retried_by_the_library(prometheus: PrometheusClient) -> None:
    _Api.seen.clear()
    with pytest.raises(BackendUnreachable, match="answered 503"):
        prometheus.query("down")
    assert len(_Api.seen) == 1  # retries are the deadline poll's, not urllib3's


def test_connection_refused_is_unreachable() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    port = server.server_address[1]
    server.server_close()
    client = PrometheusClient(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(
        BackendUnreachable, match=rf"Prometheus: GET http://127.0.0.1:{port}/api/v1/query\?query=up failed"
    ):
        client.query("up")
