"""The rule-coverage, evaluation-interval and "never in Slack" checks against broken variants made for real.

A private Prometheus (the pinned 3.5.0) scrapes the local stack's node-exporter and evaluates a
rule on a renamed metric in a group of its own interval: the coverage check names the rule and
the selector, the interval check the group, expected and actual. A private Slack mock holds a
Watchdog message posted before the run (a clean run stays green), then one posted during the run
(a plugin posts it at the session's start, after the run's start is taken): red.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from obs_conformance.envconf import load_environment
from tests.breakage import free_port, prometheus_binary, prometheus_with, run_suites_with, running

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.usefixtures("stack")]

WATCHDOG = {"channel": "#monitoring", "text": "[FIRING:1] Watchdog (left from a routing fixed since)"}


def failed_tests(stdout: str) -> list[str]:
    return sorted(line.split("::")[1].split(" ")[0] for line in stdout.splitlines() if line.startswith("FAILED"))


def test_rule_on_a_renamed_metric_and_a_slower_group_fail_by_name(tmp_path: Path) -> None:
    binary = prometheus_binary(3)
    if binary is None:
        pytest.skip("no Prometheus 3 build (python -m deployer local up builds it)")
    node_exporter = f"127.0.0.1:{load_environment('local', environ={}).port('LOCAL_NODE_EXPORTER_PORT')}"
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "node-exporter", "static_configs": [{"targets": [node_exporter]}]}],
    }
    rules = {
        "groups": [
            {
                "name": "healthy.rules",
                "rules": [{"alert": "NodeCPUSeen", "expr": 'rate(node_cpu_seconds_total{mode="idle"}[1m]) < 0'}],
            },
            {
                "name": "renamed.rules",
                "interval": "2s",
                "rules": [{"alert": "NodeCPURenamed", "expr": 'rate(node_cpu_seconds_totals{mode="idle"}[1m]) < 0'}],
            },
        ]
    }
    checks = (
        "suites/test_rule_coverage.py::test_every_alert_rule_selector_matches_a_series",
        "suites/test_rule_coverage.py::test_every_rule_group_runs_every_evaluation_interval",
    )
    with prometheus_with(config, rules, tmp_path, keep_scrapes=True, wait_scrape=True, binary=binary) as url:
        broken = run_suites_with(tmp_path, {"PROMETHEUS_URL": url, "METRIC_DEADLINE": "5s"}, *checks)
    assert failed_tests(broken.stdout) == [
        "test_every_alert_rule_selector_matches_a_series",
        "test_every_rule_group_runs_every_evaluation_interval",
    ], broken.stdout[-4000:]
    assert 'renamed.rules/NodeCPURenamed: node_cpu_seconds_totals{mode="idle"}' in broken.stdout, broken.stdout[-4000:]
    assert "healthy.rules/NodeCPUSeen" not in broken.stdout  # its selector matches the scraped series
    assert "Prometheus: rule groups at the wrong interval" in broken.stdout, broken.stdout[-4000:]
    assert "renamed.rules (" in broken.stdout, broken.stdout[-4000:]
    assert "): expected every 1s (EVALUATION_INTERVAL), runs every 2s" in broken.stdout, broken.stdout[-4000:]
    assert "healthy.rules (" not in broken.stdout


@pytest.fixture
def private_slack_mock(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    argv = [sys.executable, "-m", "obs_conformance.slack_mock.server", "--port", str(port)]
    with running(argv, "/healthz", port, tmp_path, "slack-mock") as url:
        yield url


def test_watchdog_in_slack_before_the_run_is_not_this_runs_leak(
    tmp_path: Path, private_slack_mock: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    check = "suites/test_alerting.py::test_watchdog_fires_but_never_reaches_slack"
    hook = f"{private_slack_mock}/services/T0LEAK/B0LEAK/old"
    assert requests.post(hook, json=WATCHDOG, timeout=5).status_code == 200
    clean = run_suites_with(tmp_path, {"SLACK_MOCK_URL": private_slack_mock}, check)
    assert clean.returncode == 0, clean.stdout[-3000:]

    # the same leak during the run: posted by a plugin at the session's start, after the run's start
    monkeypatch.setenv("OBSCONF_TEST_SLACK_POST", f"{private_slack_mock}/services/T0LEAK/B0LEAK/now")
    leaked = run_suites_with(tmp_path, {"SLACK_MOCK_URL": private_slack_mock}, check, "-p", "tests.slack_during_run")
    assert failed_tests(leaked.stdout) == ["test_watchdog_fires_but_never_reaches_slack"], leaked.stdout[-3000:]
    assert "Slack mock: Watchdog reached Slack during the run" in leaked.stdout, leaked.stdout[-3000:]
    assert "posted during the run" in leaked.stdout and "left from a routing fixed since" not in leaked.stdout
