"""The app-shaped checks pass on the local stack and fail when the pipeline is broken for real: a
private collector (the stack's binary and config, one thing changed) exports to the stack's log and
trace stores, and the suites send through it.

- the collector stops deriving ``team`` (the TEAM_BY_NAMESPACE statements gone): the app's log and
  spans have no team, and the checks say so;
- a pod attribute made an index label (``k8s.pod.name`` added to the log store's stream fields, as
  Loki's default otlp_config would index it): the stream check counts a stream per pod and names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from obs_conformance.envconf import load_environment
from obs_conformance.fixtures.collector_config import local_collector_config
from tests.breakage import collector_with, run_suites_with

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.usefixtures("stack")]

SUITE = "suites/test_app_telemetry.py"
LOG_CHECK = "test_app_log_gets_the_design_index_labels_and_keeps_pod_attributes_as_metadata"
SPAN_CHECK = "test_app_spans_get_the_design_attributes_and_keep_their_links"
STREAM_CHECK = "test_app_logs_make_one_stream_per_service_not_per_pod"


def failed_tests(stdout: str) -> set[str]:
    return {
        line.split("::")[1].split(" ")[0].split("[")[0] for line in stdout.splitlines() if line.startswith("FAILED")
    }


def stack_collector_config() -> dict[str, Any]:
    """The running stack collector's own config (the process serving the env's OTLP endpoint)."""
    env = load_environment("local", environ={})
    config, _ = local_collector_config(str(env.endpoint("OTLP_GRPC_ENDPOINT")))
    return config


def run_through(config: dict[str, Any], tmp_path: Path, *selection: str) -> tuple[set[str], str]:
    with collector_with(config, tmp_path) as (grpc, http):
        result = run_suites_with(tmp_path, {"OTLP_GRPC_ENDPOINT": grpc, "OTLP_HTTP_URL": http}, *selection)
    return failed_tests(result.stdout), result.stdout


def test_app_shaped_checks_pass_on_the_stack(tmp_path: Path) -> None:
    result = run_suites_with(tmp_path, {}, SUITE)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "7 passed" in result.stdout, result.stdout[-3000:]


def test_collector_that_stops_deriving_team_fails_the_app_checks(tmp_path: Path) -> None:
    config = stack_collector_config()
    transform = config["processors"]["transform/design_labels"]
    for signal in ("trace_statements", "metric_statements", "log_statements"):
        for group in transform[signal]:
            group["statements"] = [s for s in group["statements"] if '"team"' not in s]
    failed, out = run_through(config, tmp_path, SUITE, "-m", "logs or traces")
    assert failed == {LOG_CHECK, SPAN_CHECK}, out[-4000:]
    assert "'team': None" in out, out[-4000:]


def test_pod_name_as_index_label_fails_the_stream_check_naming_it(tmp_path: Path) -> None:
    config = stack_collector_config()
    headers = config["exporters"]["otlp_http/logs"]["headers"]
    headers["VL-Stream-Fields"] += ",k8s.pod.name"
    failed, out = run_through(config, tmp_path, f"{SUITE}::{STREAM_CHECK}", f"{SUITE}::{LOG_CHECK}")
    assert failed == {STREAM_CHECK, LOG_CHECK}, out[-4000:]
    assert "made 3 stream(s); index labels beyond the design's" in out, out[-4000:]
    assert "['k8s.pod.name'] (splitting the streams: ['k8s.pod.name'])" in out, out[-4000:]
