"""Grafana Tempo's HTTP API (port 3200 in the tempo chart)."""

from __future__ import annotations

import time

from obs_conformance.clients.errors import BackendError
from obs_conformance.clients.http import HttpBackend
from obs_conformance.clients.traces import Span, parse_otlp_spans


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

    @staticmethod
    def traceql(service: str, attributes: dict[str, str]) -> str:
        conditions = [f'resource.service.name = "{service}"']
        conditions += [f'span.{key} = "{value}"' for key, value in sorted(attributes.items())]
        return "{ " + " && ".join(conditions) + " }"

    def search_text(self, service: str, attributes: dict[str, str]) -> str:
        return f"GET {self.url('/api/search')}?q={self.traceql(service, attributes)}"

    def search(self, service: str, attributes: dict[str, str], lookback: float = 3600) -> list[str]:
        now = int(time.time())
        params = {"q": self.traceql(service, attributes), "start": str(now - int(lookback)), "end": str(now + 60)}
        body = self.get_json("/api/search", params)
        return [str(t["traceID"]).rjust(32, "0") for t in body.get("traces") or []]

    def search_tags(self, service: str, attributes: dict[str, str], lookback: float = 3600) -> list[str]:
        """Tempo's tag search (``tags=service.name=x probe.id=y``), beside TraceQL."""
        now = int(time.time())
        tags = " ".join(f"{k}={v}" for k, v in {"service.name": service, **attributes}.items())
        body = self.get_json("/api/search", {"tags": tags, "start": str(now - int(lookback)), "end": str(now + 60)})
        return [str(t["traceID"]).rjust(32, "0") for t in body.get("traces") or []]

    def search_tags_text(self, service: str, attributes: dict[str, str]) -> str:
        tags = " ".join(f"{k}={v}" for k, v in {"service.name": service, **attributes}.items())
        return f"GET {self.url('/api/search')}?tags={tags}"

    def version(self) -> str:
        return str(self.get_json("/api/status/buildinfo").get("version", "unknown"))
