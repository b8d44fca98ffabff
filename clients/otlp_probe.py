"""One raw OTLP export request per signal and protocol, and the answer as the collector gave it: the gRPC
status name (``UNAUTHENTICATED``, ``OK``) or the HTTP status (401, 200).

The SDK's exporters only say success or failure; the security checks need the collector's own word.
Each request is an empty export of its signal (no resource, no record): what is refused or taken is
the request itself, and an endpoint that takes anonymous writes stores nothing of the probe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc  # type: ignore[import-untyped]  # grpcio ships no type hints
import requests
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

SIGNALS = ("traces", "logs", "metrics")
# the collector's gRPC method per signal (its rpc_method label) and the request it takes
_GRPC: dict[str, tuple[Any, Any]] = {
    "traces": (trace_service_pb2_grpc.TraceServiceStub, trace_service_pb2.ExportTraceServiceRequest),
    "logs": (logs_service_pb2_grpc.LogsServiceStub, logs_service_pb2.ExportLogsServiceRequest),
    "metrics": (metrics_service_pb2_grpc.MetricsServiceStub, metrics_service_pb2.ExportMetricsServiceRequest),
}
GRPC_METHODS = {
    "traces": "opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "logs": "opentelemetry.proto.collector.logs.v1.LogsService/Export",
    "metrics": "opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
}


@dataclass(frozen=True)
class OtlpAnswer:
    """What one export request was (protocol, signal, where) and what came back."""

    request: str
    answer: str  # "UNAUTHENTICATED", "OK", "401", "200", or the transport error's name

    def shown(self) -> str:
        return f"{self.request} answered {self.answer}"


def grpc_export(
    endpoint: str, signal: str, headers: dict[str, str], secure: bool, timeout: float, ca_file: str | None = None
) -> OtlpAnswer:
    """An empty ``signal`` export over gRPC to ``endpoint`` (host:port), with ``headers`` as metadata."""
    stub_class, request_class = _GRPC[signal]
    request = f"OTLP/gRPC {signal} export to {endpoint}" + (" with credentials" if headers else " (anonymous)")
    if secure:
        roots = open(ca_file, "rb").read() if ca_file else None  # noqa: SIM115 - read at once
        channel = grpc.secure_channel(endpoint, grpc.ssl_channel_credentials(root_certificates=roots))
    else:
        channel = grpc.insecure_channel(endpoint)
    try:
        stub = stub_class(channel)
        stub.Export(request_class(), metadata=tuple(headers.items()), timeout=timeout)
        return OtlpAnswer(request, "OK")
    except grpc.RpcError as e:
        code = e.code() if isinstance(e, grpc.Call) else None
        return OtlpAnswer(request, code.name if code is not None else type(e).__name__)
    finally:
        channel.close()


def http_export(url: str, signal: str, headers: dict[str, str], timeout: float) -> OtlpAnswer:
    """An empty ``signal`` export over OTLP/HTTP (protobuf) to ``url``/v1/``signal``."""
    target = f"{url.rstrip('/')}/v1/{signal}"
    request = f"OTLP/HTTP POST {target}" + (" with credentials" if headers else " (anonymous)")
    try:
        answer = requests.post(
            target,
            data=_GRPC[signal][1]().SerializeToString(),
            headers={"Content-Type": "application/x-protobuf", **headers},
            timeout=timeout,
        )
    except requests.RequestException as e:
        return OtlpAnswer(request, type(e).__name__)
    return OtlpAnswer(request, str(answer.status_code))
