"""Grafana Tempo's HTTP API (port 3200 in the tempo chart)."""

from __future__ import annotations

from clients.errors import BackendError
from clients.http import HttpBackend
from clients.traces import Span, parse_otlp_spans


class TempoClient(HttpBackend):
    component = "Tempo"

    def trace_url(self, trace_id: str) -> str:
        return self.url(f"/api/v2/traces/{trace_id}")

    def get_trace(self, trace_id: str) -> list[Span]:
        try:
            body = self.get_json(f"/api/v2/traces/{trace_id}", headers={"Accept": "application/json"})
        except BackendError as e:
            if e.status == 404:
                return []
            raise
        trace = body.get("trace", body)
        return parse_otlp_spans(trace.get("resourceSpans") or trace.get("batches") or [])

    def version(self) -> str:
        return str(self.get_json("/api/status/buildinfo").get("version", "unknown"))
