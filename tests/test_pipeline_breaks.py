"""The collector's pipelines are checked as a whole: a required processor missing from one pipeline
fails the check, naming that pipeline. A private collector runs the broken config; a private
Prometheus scrapes its telemetry; the suites are pointed at both."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.breakage import local_configs, run_suites_with, scraped_collector

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.usefixtures("stack")]

HOOK = "http://127.0.0.1:18080/services/T/B/unused"
CHECK = "suites/test_correlation.py::test_collector_runs_every_required_processor_in_every_pipeline"


def failed_tests(stdout: str) -> list[str]:
    return [line.split("::")[1].split(" ")[0] for line in stdout.splitlines() if line.startswith("FAILED")]


def test_healthy_collector_passes(tmp_path: Path) -> None:
    result = run_suites_with(tmp_path, {}, CHECK)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize(
    ("pipeline", "processor"), [("logs", "batch"), ("traces", "memory_limiter"), ("metrics", "resource")]
)
def test_processor_missing_from_one_pipeline_fails_naming_it(tmp_path: Path, pipeline: str, processor: str) -> None:
    configs = local_configs(tmp_path, HOOK)
    collector = configs["otelcol.yaml"]
    collector["service"]["pipelines"][pipeline]["processors"].remove(processor)
    left = collector["service"]["pipelines"][pipeline]["processors"]
    with scraped_collector(configs, tmp_path) as (grpc, http, url, _):
        result = run_suites_with(
            tmp_path, {"OTLP_GRPC_ENDPOINT": grpc, "OTLP_HTTP_URL": http, "PROMETHEUS_URL": url}, CHECK
        )
    assert failed_tests(result.stdout) == ["test_collector_runs_every_required_processor_in_every_pipeline"], (
        result.stdout[-3000:]
    )
    assert (
        f"serving OTLP at {grpc} ({tmp_path / 'otelcol.yaml'})): pipeline {pipeline} runs processors {left}, missing ['{processor}']"
        in result.stdout
    ), result.stdout[-3000:]
