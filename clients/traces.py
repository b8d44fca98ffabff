"""The trace backends' common shape: spans read back as OTLP JSON, normalized.

Tempo (clusters) and Jaeger (the local stack) both answer a trace-by-id query
with OTLP JSON, so one parser serves both and the checks compare what they sent
with what came back, whichever backend stored it.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

_HEX = re.compile(r"^[0-9a-fA-F]+$")


@dataclass(frozen=True)
class Span:
    """A stored span with its resource attributes merged in for easy matching."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str
    status_code: str
    attributes: dict[str, object] = field(default_factory=dict)
    resource: dict[str, object] = field(default_factory=dict)

    @property
    def service(self) -> str:
        return str(self.resource.get("service.name", ""))


def otlp_id(raw: str, length: int) -> str:
    """An OTLP JSON id as lowercase hex: the spec says hex, protojson emits base64."""
    if len(raw) == length * 2 and _HEX.match(raw):
        return raw.lower()
    try:
        return base64.b64decode(raw, validate=True).hex()
    except (binascii.Error, ValueError):
        return raw.lower()


def any_value(value: dict[str, Any]) -> object:
    """Decode an OTLP ``AnyValue`` into a Python value."""
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [any_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return attributes(value["kvlistValue"].get("values", []))
    return None


def attributes(items: list[dict[str, Any]]) -> dict[str, object]:
    return {item["key"]: any_value(item.get("value", {})) for item in items}


_KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}


def _enum(value: object, names: dict[int, str], prefix: str) -> str:
    if isinstance(value, int):
        return names.get(value, str(value))
    text = str(value or "")
    return text.removeprefix(prefix) if text else names[0]


def parse_otlp_spans(resource_spans: list[dict[str, Any]]) -> list[Span]:
    """Flatten OTLP ``resourceSpans`` (or Tempo's older ``batches``) into spans."""
    spans: list[Span] = []
    for resource_span in resource_spans:
        resource = attributes(resource_span.get("resource", {}).get("attributes", []))
        scopes = resource_span.get("scopeSpans") or resource_span.get("instrumentationLibrarySpans") or []
        for scope in scopes:
            for raw in scope.get("spans", []):
                parent = raw.get("parentSpanId") or ""
                spans.append(
                    Span(
                        trace_id=otlp_id(raw["traceId"], 16),
                        span_id=otlp_id(raw["spanId"], 8),
                        parent_span_id=otlp_id(parent, 8) if parent else "",
                        name=raw.get("name", ""),
                        kind=_enum(raw.get("kind"), _KINDS, "SPAN_KIND_"),
                        status_code=_enum(raw.get("status", {}).get("code"), _STATUS, "STATUS_CODE_"),
                        attributes=attributes(raw.get("attributes", [])),
                        resource=resource,
                    )
                )
    return spans


class TraceStore(Protocol):
    """What the trace checks need of a trace backend, whichever it is."""

    component: str

    def trace_url(self, trace_id: str) -> str:
        """The exact URL a trace-by-id lookup requests (for failure messages)."""
        ...

    def get_trace(self, trace_id: str) -> list[Span]:
        """The trace's spans, or [] while it is not (yet) found."""
        ...

    def search_text(self, service: str, attributes: dict[str, str]) -> str:
        """The backend's search request for ``service`` and span ``attributes`` (for failure messages)."""
        ...

    def search(self, service: str, attributes: dict[str, str], lookback: float = 3600) -> list[str]:
        """Trace ids of traces with a span of ``service`` carrying ``attributes``."""
        ...

    def search_tags(self, service: str, attributes: dict[str, str], lookback: float = 3600) -> list[str]:
        """The same by the backend's tag search (Tempo: ``tags=``; Jaeger: its only search)."""
        ...

    def search_tags_text(self, service: str, attributes: dict[str, str]) -> str: ...

    def version(self) -> str: ...
