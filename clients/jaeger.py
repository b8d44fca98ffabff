"""Jaeger v2's query API v3: the local stack's trace store, in Tempo's place.

Tempo's Go module is AGPL-licensed and this workplace does not build it, so the
local stack stores traces in Jaeger (Apache-2.0). ``/api/v3/traces/<id>``
answers OTLP JSON like Tempo's ``/api/v2/traces/<id>``, so the trace checks read
the same spans from either backend.
"""

from __future__ import annotations

from clients.errors import BackendError
from clients.http import HttpBackend
from clients.traces import Span, parse_otlp_spans


class JaegerClient(HttpBackend):
    component = "trace store (Jaeger, in Tempo's place)"

    def trace_url(self, trace_id: str) -> str:
        return self.url(f"/api/v3/traces/{trace_id}")

    def get_trace(self, trace_id: str) -> list[Span]:
        try:
            body = self.get_json(f"/api/v3/traces/{trace_id}")
        except BackendError as e:
            if e.status == 404:
                return []
            raise
        result = body.get("result", body)
        return parse_otlp_spans(result.get("resourceSpans", []))

    def version(self) -> str:
        self.get_json("/api/v3/services")
        return "v2"
