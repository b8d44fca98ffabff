"""OTLP JSON from Tempo and Jaeger parses to the same spans, hex or base64 ids alike."""

from __future__ import annotations

import base64

from obs_conformance.clients.traces import parse_otlp_spans
from obs_conformance.clients.victorialogs import _stream_labels

TRACE_HEX = "5b8efff798038103d269b633813fc60c"
SPAN_HEX = "eee19b7ec3c1b174"


def otlp(trace_id: str, span_id: str, kind: object, code: object) -> list[dict[str, object]]:
    return [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
            "scopeSpans": [
                {
                    "spans": [
                        {
                            "traceId": trace_id,
                            "spanId": span_id,
                            "name": "op",
                            "kind": kind,
                            "status": {"code": code},
                            "attributes": [
                                {"key": "n", "value": {"intValue": "42"}},
                                {"key": "t", "value": {"stringValue": "état ✓"}},
                                {"key": "f", "value": {"doubleValue": 0.5}},
                            ],
                        }
                    ]
                }
            ],
        }
    ]


def test_hex_ids_and_string_enums() -> None:
    [span] = parse_otlp_spans(otlp(TRACE_HEX, SPAN_HEX, "SPAN_KIND_SERVER", "STATUS_CODE_ERROR"))
    assert (span.trace_id, span.span_id, span.kind, span.status_code) == (TRACE_HEX, SPAN_HEX, "SERVER", "ERROR")
    assert span.attributes == {"n": 42, "t": "état ✓", "f": 0.5}
    assert span.service == "svc"


def test_base64_ids_and_numeric_enums() -> None:
    trace_b64 = base64.b64encode(bytes.fromhex(TRACE_HEX)).decode()
    span_b64 = base64.b64encode(bytes.fromhex(SPAN_HEX)).decode()
    [span] = parse_otlp_spans(otlp(trace_b64, span_b64, 2, 0))
    assert (span.trace_id, span.span_id, span.kind, span.status_code) == (TRACE_HEX, SPAN_HEX, "SERVER", "UNSET")


def test_victorialogs_stream_labels() -> None:
    labels = _stream_labels('{cluster="local",environment="local",service.name="a \\"b\\""}')
    assert labels == {"cluster": "local", "environment": "local", "service.name": 'a "b"'}
