"""A fake Kubernetes API: GET on recorded objects by path, lists built from their items."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


class _Handler(BaseHTTPRequestHandler):
    server: FakeKubeServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        objects = self.server.objects
        body: dict[str, Any]
        if path == "/version":
            body, status = {"gitVersion": "v1.31.0-fake"}, 200
        elif path in objects:
            body, status = objects[path], 200
        else:
            children = [obj for key, obj in objects.items() if key.rsplit("/", 1)[0] == path]
            if children or path in self.server.known_lists:
                body, status = {"kind": "List", "apiVersion": "v1", "items": children}, 200
            else:
                body = {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404}
                status = 404
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakeKubeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, objects: dict[str, Any], known_lists: set[str]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.objects = objects
        self.known_lists = known_lists

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def serving(objects: dict[str, Any], known_lists: set[str] | None = None) -> Iterator[FakeKubeServer]:
    server = FakeKubeServer(objects, known_lists or set())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def kubeconfig(url: str, context: str) -> str:
    """A kubeconfig whose ``context`` points at the fake server (token auth, as Scaleway's)."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": url}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
            "contexts": [{"name": context, "context": {"cluster": "fake", "user": "fake"}}],
            "current-context": context,
        }
    )
