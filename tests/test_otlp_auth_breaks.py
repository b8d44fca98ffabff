"""The OTLP authentication checks (suites/test_otlp_auth.py), made to fail for real with private collectors
(the stack's binary and rendered config) on free ports: one without the basicauth extension fails every
refusal check naming the endpoint, the signal, the expected and the actual answer; one that refuses but
whose telemetry level no longer exposes the server counts fails the counted check naming the counters;
the same open collector under ``OTLP_AUTH="off"`` passes only as waived risks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.breakage import collector_with, local_configs, run_suites_with, scraped_collector

SUITE = "suites/test_otlp_auth.py"
HOOK = "http://127.0.0.1:9/services/T/B/unused"


def without_auth(config: dict[str, Any]) -> dict[str, Any]:
    """The collector config with its OTLP receivers open: no authenticator, no basicauth extension."""
    for protocol in config["receivers"]["otlp"]["protocols"].values():
        protocol.pop("auth", None)
    config.pop("extensions", None)
    config["service"].pop("extensions", None)
    return config


def run_open(tmp_path: Path, overrides: dict[str, str] | None = None) -> str:
    config = without_auth(local_configs(tmp_path, HOOK)["otelcol.yaml"])
    with collector_with(config, tmp_path) as (grpc, http):
        result = run_suites_with(
            tmp_path, {"OTLP_GRPC_ENDPOINT": grpc, "OTLP_HTTP_URL": http, **(overrides or {})}, SUITE
        )
    return result.stdout


@pytest.mark.stack
@pytest.mark.slow
@pytest.mark.usefixtures("stack")
def test_an_open_collector_fails_the_refusal_checks_naming_the_endpoint(tmp_path: Path) -> None:
    out = run_open(tmp_path)
    assert "7 failed" in out, out[-4000:]
    grpc = next(line for line in out.splitlines() if "OTLP/gRPC traces export to 127.0.0.1:" in line)
    assert "(anonymous) answered OK, expected UNAUTHENTICATED" in grpc, grpc
    for signal in ("traces", "logs", "metrics"):
        assert f"OTLP/gRPC {signal} export to 127.0.0.1:" in out, out[-4000:]
        assert f"/v1/{signal} (anonymous) answered 200, expected 401" in out, out[-4000:]
    assert "collector: anonymous exports not refused" in out, out[-4000:]


@pytest.mark.stack
@pytest.mark.slow
@pytest.mark.usefixtures("stack")
def test_otlp_authentication_off_is_a_waived_risk_not_a_silent_pass(tmp_path: Path) -> None:
    out = run_open(tmp_path, {"OTLP_AUTH": "off"})
    assert "7 passed" in out, out[-4000:]
    assert "WAIVED RISKS (7): exposures the env accepted" in out, out[-4000:]
    assert "anyone who reaches it writes logs" in out and 'OTLP_AUTH="off"' in out, out[-4000:]


@pytest.mark.stack
@pytest.mark.slow
@pytest.mark.usefixtures("stack")
@pytest.mark.parametrize("level", ["detailed", "normal"])
def test_refusals_are_counted_only_where_the_collector_exposes_them(tmp_path: Path, level: str) -> None:
    """A private Prometheus scrapes the private collector as the env's COLLECTOR_JOB: at ``detailed`` the
    refused requests are counted and the check passes; at ``normal`` the collector drops its server
    metrics, the refusals go uncounted and the check fails naming each count and its expected growth."""
    configs = local_configs(tmp_path, HOOK)
    collector = configs["otelcol.yaml"]
    collector["service"]["telemetry"]["metrics"]["level"] = level
    with scraped_collector(configs, tmp_path) as (grpc, http, url, _):
        # 60 s: a Prometheus started just now, evaluating the chart's rules every second, is slow at first
        overrides = {"OTLP_GRPC_ENDPOINT": grpc, "OTLP_HTTP_URL": http, "PROMETHEUS_URL": url, "METRIC_DEADLINE": "60s"}
        out = run_suites_with(tmp_path, overrides, SUITE).stdout
    if level == "detailed":
        assert "7 passed" in out, out[-4000:]
        return
    assert "6 passed, 1 failed" in out or "1 failed, 6 passed" in out, out[-4000:]
    assert "test_refused_otlp_requests_are_counted" in out, out[-4000:]
    assert "each count to grow by what was refused" in out and "UNAUTHENTICATED} +1" in out, out[-4000:]
    assert "last seen: grown {" in out and "TraceService/Export', UNAUTHENTICATED}\": 0" in out, out[-4000:]


@pytest.mark.stack
@pytest.mark.usefixtures("stack")
def test_refused_credentials_are_named_as_such(tmp_path: Path) -> None:
    """Senders with credentials the collector refuses: the export failures say so, with the exporter's
    own answer, and the verdict blames the collector's credentials, not an unreachable receiver."""
    out = run_suites_with(
        tmp_path, {"OTLP_AUTH_USER": "not-the-otlp-sender"}, "suites/test_traces.py::test_span_read_back_by_trace_id"
    ).stdout
    assert "1 failed" in out, out[-4000:]
    assert "credentials refused (the env's OTLP_AUTH_USER / OTLP_AUTH_PASSWORD)" in out, out[-4000:]
    assert "StatusCode.UNAUTHENTICATED" in out, out[-4000:]
    assert "BROKEN collector (OTLP/gRPC 127.0.0.1:" in out, out[-4000:]
