"""The Loki client against Loki's recorded answer shapes (no Loki runs here: its Go module is AGPL).

The shapes follow Loki v3.5's ``pkg/util/marshal/query.go`` (``encodeData``, ``encodeStream``)
and ``pkg/util/httpreq`` (``X-Loki-Response-Encoding-Flags: categorize-labels``): with the flag
the answer echoes ``data.encodingFlags``, ``stream`` holds the index labels only and each value
carries a third element ``{"structuredMetadata": {...}, "parsed": {...}}``; without it, structured
metadata is folded into ``stream`` and values have two elements. A tiny HTTP server on loopback
answers like that, so the client's real request (its header included) is what is tested.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from obs_conformance.clients.errors import BackendError
from obs_conformance.clients.logs import LogRecord, duration_seconds
from obs_conformance.clients.loki import LokiClient
from obs_conformance.fixtures.readback import assert_placement

INDEX = {
    "service_name": "conformance-app",
    "namespace": "jips",
    "team": "platform",
    "environment": "dev",
    "cluster": "dev",
}
METADATA = {"trace_id": "5b8efff798038103d269b633813fc60c", "span_id": "eee19b7ec3c1b174", "probe_id": "run-1-gw0-ab"}
LINE = "payment failed for run-1-gw0-ab"
TS = "1764115200000000000"


def categorized(index: dict[str, str], metadata: dict[str, str]) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {
            "resultType": "streams",
            "encodingFlags": ["categorize-labels"],
            "result": [{"stream": index, "values": [[TS, LINE, {"structuredMetadata": metadata}]]}],
            "stats": {"summary": {"totalLinesProcessed": 1}},
        },
    }


def folded() -> dict[str, Any]:
    """Loki's default answer: metadata merged into the stream labels, two-element values."""
    return {
        "status": "success",
        "data": {
            "resultType": "streams",
            "result": [{"stream": {**INDEX, **METADATA}, "values": [[TS, LINE]]}],
            "stats": {},
        },
    }


class FakeLoki(BaseHTTPRequestHandler):
    """Answers query_range as Loki does: categorized only when the header asks for it."""

    answer_categorized: ClassVar[dict[str, Any]] = categorized(INDEX, METADATA)
    honour_flag = True
    config_yaml = "limits_config:\n  retention_period: 30d\ncompactor:\n  retention_enabled: true\n"
    seen_headers: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def _send(self, body: str, content_type: str) -> None:
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.startswith("/loki/api/v1/query_range"):
            flag = self.headers.get("X-Loki-Response-Encoding-Flags", "")
            type(self).seen_headers.append(flag)
            body = self.answer_categorized if flag == "categorize-labels" and self.honour_flag else folded()
            self._send(json.dumps(body), "application/json")
        elif self.path == "/config":
            self._send(self.config_yaml, "text/plain")


@pytest.fixture
def loki() -> Iterator[LokiClient]:
    FakeLoki.answer_categorized = categorized(INDEX, METADATA)
    FakeLoki.honour_flag = True
    FakeLoki.seen_headers = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeLoki)
    # shutdown() waits up to one poll interval (0.5 s by default) at every teardown
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield LokiClient(f"http://127.0.0.1:{server.server_address[1]}", 5)
    finally:
        server.shutdown()
        server.server_close()


def test_find_asks_for_categorized_labels_and_keeps_them_apart(loki: LokiClient) -> None:
    [record] = loki.find({"service.name": "conformance-app"}, "run-1-gw0-ab")
    assert FakeLoki.seen_headers == ["categorize-labels"]
    assert record.labels == INDEX and record.fields == METADATA and record.body == LINE
    assert record.placement("service.name") == "index label"
    assert record.placement("probe.id") == "structured metadata"
    assert record.placement("trace_id") == "structured metadata"
    assert_placement(loki, record, ("service.name", "namespace", "team", "environment", "cluster"), METADATA)


def test_an_answer_without_the_flag_echo_is_refused(loki: LokiClient) -> None:
    """A Loki (or proxy) that ignores the header folds metadata into labels: no guessing then."""
    FakeLoki.honour_flag = False
    with pytest.raises(BackendError, match=r"no encodingFlags \['categorize-labels'\].*cannot be told apart"):
        loki.find({"service.name": "conformance-app"}, "x")


def test_trace_id_indexed_by_a_wrong_otlp_config_fails_the_placement_check(loki: LokiClient) -> None:
    """otlp_config making trace_id an index label: stored, found, and the check says where it is."""
    FakeLoki.answer_categorized = categorized({**INDEX, "trace_id": METADATA["trace_id"]}, {"probe_id": "p"})
    [record] = loki.find({"service.name": "conformance-app"}, "x")
    with pytest.raises(AssertionError) as failure:
        assert_placement(loki, record, ("service.name",), ("trace_id", "probe.id"))
    message = str(failure.value)
    assert message.startswith("Loki: record 'payment failed for run-1-gw0-ab' stores")
    assert "'trace_id': 'index label'" in message and "'trace_id': 'structured metadata'" in message


def test_parsed_labels_are_neither_index_nor_metadata() -> None:
    record = LogRecord(labels={"a": "1"}, body="", timestamp_ns=0, parsed={"level": "error"})
    assert record.placement("level") == "parsed" and record.get("level") == "error"
    assert record.placement("missing") == "absent"


@pytest.mark.parametrize(
    ("reported", "seconds"),
    [("30d", 30 * 86400), ("1d12h", 36 * 3600), ("4w2d", 30 * 86400), ("720h0m0s", 30 * 86400), ("744h", 31 * 86400),
     ("1y", 365 * 86400), ("90m30s", 5430), ("500ms", 0.5), ("0s", 0), ("0", 0)],
)  # fmt: skip
def test_multi_unit_durations(reported: str, seconds: float) -> None:
    assert duration_seconds(reported) == seconds


@pytest.mark.parametrize("reported", ["", "30 days", "1d 12h", "12x", "d", "-1d"])
def test_unreadable_durations_raise(reported: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        duration_seconds(reported)


def test_retention_reported_in_several_units(loki: LokiClient) -> None:
    FakeLoki.config_yaml = "limits_config:\n  retention_period: 1d12h\ncompactor:\n  retention_enabled: true\n"
    period, compaction = loki.retention()
    assert (period, compaction) == ("1d12h", "retention_enabled")
    assert duration_seconds(period) == 36 * 3600
