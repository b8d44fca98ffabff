"""The k8s checks' list calls are paged (limit/continue) and cost one call per page, on a loopback fake API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from obs_conformance.clients.kubernetes import KubernetesClient, SharedLists

TOTAL = 1234
SECRETS = "/api/v1/namespaces/ns/secrets"
SEEN: list[dict[str, list[str]]] = []


class _Api(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        SEEN.append(query)
        if url.path == SECRETS:
            self._send(
                {"items": [{"metadata": {"name": "loki-tls"}, "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"}}]}
            )
            return
        if url.path != "/api/v1/services":
            self.send_response(404)
            self.end_headers()
            return
        start = int(query.get("continue", ["0"])[0])
        limit = int(query.get("limit", [str(TOTAL)])[0])
        end = min(start + limit, TOTAL)
        body: dict[str, Any] = {
            "items": [
                {"metadata": {"name": f"svc-{i}", "managedFields": [{"manager": "helm"}]}} for i in range(start, end)
            ],
            "metadata": {},
        }
        if end < TOTAL:
            body["metadata"] = {"continue": str(end)}
        self._send(body)

    def _send(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[KubernetesClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    SEEN.clear()
    try:
        yield KubernetesClient(f"http://127.0.0.1:{server.server_address[1]}", 5.0)
    finally:
        server.shutdown()
        server.server_close()


def test_items_pages_through_the_whole_list(api: KubernetesClient) -> None:
    before = KubernetesClient.calls
    names = [item["metadata"]["name"] for item in api.items("/api/v1/services")]
    assert names == [f"svc-{i}" for i in range(TOTAL)]
    assert [q.get("limit") for q in SEEN] == [["500"]] * 3  # 1234 items: 3 pages of at most 500
    assert KubernetesClient.calls - before == 3


def test_a_missing_kind_is_an_empty_list(api: KubernetesClient) -> None:
    assert api.items("/apis/monitoring.coreos.com/v1/servicemonitors") == []


def test_items_hold_no_managed_fields(api: KubernetesClient) -> None:
    assert all("managedFields" not in item["metadata"] for item in api.items("/api/v1/services"))


def test_shared_lists_list_each_kind_once_for_every_check_that_reads_it(api: KubernetesClient) -> None:
    """Four parametrized cases (one per host) reading the same list cost one list, not four."""
    lists = SharedLists(api)
    before = KubernetesClient.calls
    for _ in range(4):
        assert len(lists.items("/api/v1/services")) == TOTAL
        assert lists.named(SECRETS, "loki-tls", "type=kubernetes.io/tls") is not None
    assert KubernetesClient.calls - before == 3 + 1  # the services' 3 pages, the secrets' one
    assert [q.get("fieldSelector") for q in SEEN if "fieldSelector" in q] == [["type=kubernetes.io/tls"]]
    secret = lists.named(SECRETS, "loki-tls", "type=kubernetes.io/tls")
    assert secret is not None and secret["data"] == {"tls.crt": "Y2VydA=="}  # no private key kept
    assert lists.named(SECRETS, "tempo-tls", "type=kubernetes.io/tls") is None
