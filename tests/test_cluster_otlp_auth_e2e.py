"""The cluster's OTLP authentication end to end, without a cluster: the collector config of the rendered
OpenTelemetryCollector CR, run by the stack's collector binary with the htpasswd Secret the plan
applies in place of the file the CR mounts, refuses the OpenTelemetry Python SDK's exporters (gRPC and
HTTP) configured by the environment alone, and takes them once ``OTEL_EXPORTER_OTLP_HEADERS`` holds the
header Secret's value, as an instrumented pod's env would (the Instrumentation's valueFrom). So the two
Secrets the deployer makes fit together and the header's encoding is what the SDK decodes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from obs_conformance.deployer.cluster.manifests import (
    OTLP_AUTH_KEY,
    OTLP_AUTH_SECRET,
    OTLP_HEADERS_KEY,
    OTLP_HEADERS_SECRET,
    render_cluster,
)
from obs_conformance.deployer.cluster.plan import up_plan
from tests.breakage import collector_with
from tests.cluster_render import CHARTS, ClusterRender, rendered

pytestmark = pytest.mark.slow

ENV = "kind"  # a cluster whose instrumented pods run (kwok's never do); dev renders the same objects


def _plan_secrets(deploy: ClusterRender) -> dict[str, dict[str, Any]]:
    steps = up_plan(deploy.env, render_cluster(deploy.env, deploy.directory), require_secrets=True, charts=CHARTS)
    docs = [json.loads(a.command.stdin.reveal()) for s in steps for a in s.actions if a.command.stdin is not None]
    return {doc["metadata"]["name"]: doc for doc in docs}


def _local_config(deploy: ClusterRender, htpasswd: Path) -> dict[str, Any]:
    """The CR's config on loopback: the mounted file here, debug exporters instead of the cluster's stores."""
    collector = deploy.one("OpenTelemetryCollector", "otel-collector", "kubectl")
    config: dict[str, Any] = copy.deepcopy(collector["spec"]["config"])
    config["extensions"]["basicauth/otlp"]["htpasswd"]["file"] = str(htpasswd)
    config["exporters"] = {"debug": {}, "prometheus": config["exporters"]["prometheus"]}
    for pipeline in config["service"]["pipelines"].values():
        pipeline["exporters"] = ["debug"] if "prometheus" not in pipeline["exporters"] else ["prometheus"]
    config["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]["host"] = "127.0.0.1"
    return config


def _export(grpc: str, http: str, monkeypatch: pytest.MonkeyPatch, headers: str | None) -> dict[str, str]:
    """One span through each SDK exporter, built from the environment only (as the operator injects it)."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

    if headers is None:
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_HEADERS", raising=False)
    else:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", headers)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "5")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{http}/v1/traces")
    results = {}
    for name, exporter in (("http", HttpExporter()), ("grpc", GrpcExporter(endpoint=grpc, insecure=True))):
        provider = TracerProvider()  # no processor: the span is exported once, by hand, for the result
        with provider.get_tracer("obs-conformance").start_as_current_span("otlp-auth-probe") as span:
            captured = span
        assert isinstance(captured, ReadableSpan)
        results[name] = exporter.export([captured]).name
        exporter.shutdown()
    return results


def test_the_cluster_collector_refuses_the_sdk_without_the_header_and_takes_the_header_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy = rendered(ENV)
    secrets = _plan_secrets(deploy)
    htpasswd = tmp_path / OTLP_AUTH_KEY
    htpasswd.write_text(secrets[OTLP_AUTH_SECRET]["stringData"][OTLP_AUTH_KEY] + "\n")
    header = secrets[OTLP_HEADERS_SECRET]["stringData"][OTLP_HEADERS_KEY]
    with collector_with(_local_config(deploy, htpasswd), tmp_path) as (grpc, http):
        anonymous = _export(grpc, http, monkeypatch, None)
        authenticated = _export(grpc, http, monkeypatch, header)
    assert anonymous == {"http": "FAILURE", "grpc": "FAILURE"}, (
        f"{ENV} collector config: the SDK without OTEL_EXPORTER_OTLP_HEADERS was answered {anonymous}, expected refused"
    )
    assert authenticated == {"http": "SUCCESS", "grpc": "SUCCESS"}, (
        f"{ENV} collector config: the SDK with the {OTLP_HEADERS_SECRET} Secret's header exported {authenticated}, "
        "expected SUCCESS on both protocols"
    )
