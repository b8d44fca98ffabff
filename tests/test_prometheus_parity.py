"""The metric checks answer the same on both Prometheus majors: 2.x (Debian's, the local stack's
before) and 3.x (the clusters'), which keeps UTF-8 names (``otel.signal``) that 2.x escapes and
stores ``le="1"`` as ``le="1.0"``.

Two private Prometheus, one of each major, scrape the same targets (the shared stack's collector
and exporters, read only) with the local stack's config, and the metric suites run against each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from tests.breakage import local_configs, prometheus_binary, prometheus_with, run_suites_with

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.usefixtures("stack")]

HOOK = "http://127.0.0.1:18080/services/T/B/unused"
CHECKS = (
    "suites/test_metrics.py",
    "suites/test_correlation.py::test_collector_accepts_all_and_drops_nothing",
    "suites/test_correlation.py::test_collector_runs_every_required_processor_in_every_pipeline",
    "suites/test_correlation.py::test_trace_log_and_exemplar_join_across_backends",
    "suites/test_traces.py::test_span_metrics_for_synthetic_services",
    "suites/test_rules.py::test_every_rule_evaluates_without_error",
)


def query(url: str, promql: str) -> list[dict[str, Any]]:
    body = requests.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5).json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def version(url: str) -> str:
    return str(requests.get(f"{url}/api/v1/status/buildinfo", timeout=5).json()["data"]["version"])


@pytest.mark.parametrize("major", [2, 3])
def test_metric_checks_pass_on_each_major(tmp_path: Path, major: int) -> None:
    binary = prometheus_binary(major)
    if binary is None:
        pytest.skip(f"no Prometheus {major}.x binary on this machine")
    configs = local_configs(tmp_path, HOOK)
    with prometheus_with(
        configs["prometheus.yml"], configs["rules.yml"], tmp_path, keep_scrapes=True, wait_scrape=True,
        extra_args=("--enable-feature=exemplar-storage",), binary=binary, name=f"prometheus-{major}",
    ) as url:  # fmt: skip
        assert version(url).startswith(f"{major}."), version(url)
        result = run_suites_with(tmp_path, {"PROMETHEUS_URL": url}, *CHECKS)
        # the query the pipelines check used before: grouping by the 2.x spelling of the signal label
        old = 'sum by (processor, otel_signal) (otelcol_processor_incoming_items{job="otel-collector"})'
        old_signals = {s["metric"].get("otel_signal") for s in query(url, old)}
    assert result.returncode == 0, result.stdout[-4000:]
    if major == 3:  # 3.x keeps the collector's UTF-8 label (otel.signal): the old query saw no signal at all
        assert old_signals == {None}, old_signals
    else:
        assert {"traces", "logs", "metrics"} <= old_signals, old_signals
    assert " passed" in result.stdout and "failed" not in result.stdout, result.stdout[-2000:]
