"""Each signal check fails, naming the broken part, when that part is broken for real:
a private collector, Prometheus or log store runs the broken config and the suites are pointed at it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.breakage import (
    collector_with,
    local_configs,
    log_agent_with,
    prometheus_with,
    run_suites_with,
    victorialogs_with,
)

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.usefixtures("stack")]

HOOK = "http://127.0.0.1:18080/services/T/B/unused"


def failed_tests(stdout: str) -> list[str]:
    return [line.split("::")[1].split(" ")[0] for line in stdout.splitlines() if line.startswith("FAILED")]


def test_resource_processor_removed(tmp_path: Path) -> None:
    collector = local_configs(tmp_path, HOOK)["otelcol.yaml"]
    for pipeline in collector["service"]["pipelines"].values():
        pipeline["processors"].remove("resource")
    with collector_with(collector, tmp_path) as (grpc, http):
        result = run_suites_with(
            tmp_path,
            {"OTLP_GRPC_ENDPOINT": grpc, "OTLP_HTTP_URL": http},
            "suites/test_traces.py::test_multi_service_trace_intact",
        )
    assert failed_tests(result.stdout) == [
        "test_multi_service_trace_intact[grpc]",
        "test_multi_service_trace_intact[http]",
    ], result.stdout[-3000:]
    expected = r"collector: span '[^']+' resource has \{'cluster': None, 'environment': None\}, expected \{'cluster': 'local', 'environment': 'local'\}"
    assert re.search(expected, result.stdout), result.stdout[-3000:]


def test_otlp_http_receiver_off(tmp_path: Path) -> None:
    collector = local_configs(tmp_path, HOOK)["otelcol.yaml"]
    del collector["receivers"]["otlp"]["protocols"]["http"]
    with collector_with(collector, tmp_path) as (grpc, _):
        dead_http = "http://127.0.0.1:9"  # the discard port: nothing listens
        result = run_suites_with(
            tmp_path,
            {"OTLP_GRPC_ENDPOINT": grpc, "OTLP_HTTP_URL": dead_http},
            "suites/test_traces.py::test_multi_service_trace_intact",
        )
    assert failed_tests(result.stdout) == ["test_multi_service_trace_intact[http]"], result.stdout[-3000:]
    assert "EmitError: collector: 2 span export(s) to OTLP/HTTP http://127.0.0.1:9/v1/traces failed" in result.stdout


def test_exemplar_storage_off(tmp_path: Path) -> None:
    configs = local_configs(tmp_path, HOOK)
    prometheus = configs["prometheus.yml"]
    exporter_job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "otel-collector-exporter")
    with prometheus_with(
        {**prometheus, "scrape_configs": [exporter_job]}, configs["rules.yml"], tmp_path, keep_scrapes=True
    ) as url:
        result = run_suites_with(
            tmp_path,
            {"PROMETHEUS_URL": url, "METRIC_DEADLINE": "12s"},
            "suites/test_correlation.py::test_trace_log_and_exemplar_join_across_backends",
        )
    assert failed_tests(result.stdout) == ["test_trace_log_and_exemplar_join_across_backends"], result.stdout[-3000:]
    assert "an exemplar with trace_id" in result.stdout and "needs exemplar storage" in result.stdout


def test_scrape_target_down(tmp_path: Path) -> None:
    configs = local_configs(tmp_path, HOOK)
    prometheus = configs["prometheus.yml"]
    for job in prometheus["scrape_configs"]:
        if job["job_name"] == "node-exporter":
            job["static_configs"][0]["targets"] = ["127.0.0.1:9"]
    with prometheus_with(prometheus, configs["rules.yml"], tmp_path, keep_scrapes=True, wait_scrape=True) as url:
        result = run_suites_with(
            tmp_path, {"PROMETHEUS_URL": url}, "suites/test_metrics.py::test_every_expected_target_up_at_env_interval"
        )
    assert failed_tests(result.stdout) == ["test_every_expected_target_up_at_env_interval"], result.stdout[-3000:]
    assert "Prometheus: targets not up:" in result.stdout and "node-exporter 127.0.0.1:9: down" in result.stdout


def test_log_retention_7d(tmp_path: Path) -> None:
    with victorialogs_with("7d", tmp_path) as url:
        result = run_suites_with(
            tmp_path, {"LOGS_URL": url}, "suites/test_logs.py::test_log_store_runs_with_env_retention"
        )
    assert failed_tests(result.stdout) == ["test_log_store_runs_with_env_retention"], result.stdout[-3000:]
    assert "running retention 7d, expected 30d (LOG_RETENTION)" in result.stdout


def test_health_check_drop_stage_removed(tmp_path: Path) -> None:
    agent = local_configs(tmp_path, HOOK)["log-agent.yaml"]
    operators = agent["receivers"]["file_log"]["operators"]
    agent["receivers"]["file_log"]["operators"] = [op for op in operators if op["type"] != "filter"]
    state = tmp_path / "state"
    (state / "pods").mkdir(parents=True, exist_ok=True)
    with log_agent_with(agent, state, tmp_path):
        result = run_suites_with(tmp_path, {}, "suites/test_log_pipeline.py", state=state)
    assert failed_tests(result.stdout) == ["test_json_pod_log_parsed_labelled_and_health_checks_dropped"], (
        result.stdout[-3000:]
    )
    assert "log pipeline: health-check line stored" in result.stdout
