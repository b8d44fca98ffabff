"""Jaeger v2's query API v3: the local stack's trace store, in Tempo's place.

Tempo's Go module is AGPL-licensed and this workplace does not build it, so the
local stack stores traces in Jaeger (Apache-2.0). ``/api/v3/traces/<id>``
answers OTLP JSON like Tempo's ``/api/v2/traces/<id>``, so the trace checks read
the same spans from either backend.
"""

from __future__ import annotations

import json
import time

from obs_conformance.clients.errors import BackendError
from obs_conformance.clients.http import HttpBackend
from obs_conformance.clients.traces import Span, parse_otlp_spans


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

    def _search_params(self, service: str, attributes: dict[str, str], lookback: float) -> dict[str, str]:
        now_us = int(time.time() * 1e6)
        return {
            "service": service,
            "tags": json.dumps(attributes, separators=(",", ":")),
            "start": str(now_us - int(lookback * 1e6)),
            "end": str(now_us + 60_000_000),
            "limit": "50",
        }

    def search_text(self, service: str, attributes: dict[str, str]) -> str:
        """Jaeger's tag search (the v3 API has no attribute filter); Tempo's equivalent is TraceQL."""
        tags = json.dumps(attributes, separators=(",", ":"))
        return f"GET {self.url('/api/traces')}?service={service}&tags={tags}"

    def search(self, service: str, attributes: dict[str, str], lookback: float = 3600) -> list[str]:
        body = self.get_json("/api/traces", self._search_params(service, attributes, lookback))
        return [str(trace["traceID"]).rjust(32, "0") for trace in body.get("data") or []]

    def search_tags(self, service: str, attributes: dict[str, str], lookback: float = 3600) -> list[str]:
        return self.search(service, attributes, lookback)

    def search_tags_text(self, service: str, attributes: dict[str, str]) -> str:
        return self.search_text(service, attributes)

    def version(self) -> str:
        self.get_json("/api/v3/services")
        return "v2"
