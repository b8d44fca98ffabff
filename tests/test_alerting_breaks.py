"""Each alerting check fails, naming what is broken, when that thing is broken for real:
a private Alertmanager or Prometheus runs the mutated config, and the suites are pointed at it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.breakage import alertmanager_with, local_configs, prometheus_with, run_suites_with

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.usefixtures("stack")]

ROUTING = "suites/test_alert_routing.py"


def _hook(env_url: str) -> str:
    return f"{env_url}/services/T0CONFORM/B0CONFORM/not-the-configured-hook"


def watchdog_to_slack(am: dict[str, Any]) -> None:
    am["route"]["routes"] = [r for r in am["route"]["routes"] if "Watchdog" not in str(r["matchers"])]


def send_resolved_off(am: dict[str, Any]) -> None:
    am["receivers"][1]["slack_configs"][0]["send_resolved"] = False


def group_wait_too_long(am: dict[str, Any]) -> None:
    am["route"]["group_wait"] = "45s"


BREAKS = [
    (
        watchdog_to_slack,
        "test_never_notifying_alerts_go_to_null[Watchdog]",
        "Watchdog reaches ['slack-monitoring'], expected ['null']",
    ),
    (send_resolved_off, "test_slack_receiver_sends_resolved", "send_resolved=False, expected true"),
    (
        group_wait_too_long,
        "test_group_wait_fits_the_alert_deadline",
        "group_wait=45s leaves no time to deliver within ALERT_DEADLINE=30s",
    ),
]


@pytest.mark.parametrize(("mutate", "failing", "message"), BREAKS, ids=[b[0].__name__ for b in BREAKS])
def test_routing_check_fails_on_broken_config(tmp_path: Path, mutate: Any, failing: str, message: str) -> None:
    configs = local_configs(tmp_path, _hook("http://127.0.0.1:18080"))
    am = configs["alertmanager.yml"]
    mutate(am)
    with alertmanager_with(am, tmp_path) as url:
        result = run_suites_with(tmp_path, {"ALERTMANAGER_URL": url}, ROUTING)
    failed = [line.split("::")[1].split(" ")[0] for line in result.stdout.splitlines() if line.startswith("FAILED")]
    assert failed == [failing], result.stdout[-3000:]
    assert message in result.stdout, result.stdout[-3000:]


def test_wrong_slack_url_fails_delivery_naming_the_failures(tmp_path: Path) -> None:
    configs = local_configs(tmp_path, _hook("http://127.0.0.1:18080"))
    with alertmanager_with(configs["alertmanager.yml"], tmp_path) as url:
        result = run_suites_with(
            tmp_path, {"ALERTMANAGER_URL": url, "ALERT_DEADLINE": "8s"},
            "suites/test_alerting.py::test_alert_posted_to_alertmanager_reaches_slack",
        )  # fmt: skip
    assert result.returncode == 1, result.stdout[-3000:]
    assert "not seen within 8s" in result.stdout
    assert "Alertmanager slack notifications:" in result.stdout and " failed" in result.stdout
    assert "0 failed" not in result.stdout, "the diagnosis must show the failed deliveries"


def test_missing_synthetic_rule_fails_the_rules_check(tmp_path: Path) -> None:
    configs = local_configs(tmp_path, _hook("http://127.0.0.1:18080"))
    rules = configs["rules.yml"]
    rules["groups"] = [g for g in rules["groups"] if g["name"] != "conformance.rules"]
    with prometheus_with(configs["prometheus.yml"], rules, tmp_path) as url:
        result = run_suites_with(tmp_path, {"PROMETHEUS_URL": url}, "suites/test_rules.py::test_required_alerts_loaded")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "Prometheus: alerting rules ['ConformanceSyntheticAlert'] not loaded" in result.stdout
