"""Route-tree and inhibition evaluation behaves like Alertmanager's."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from obs_conformance.clients.alert_routing import Matcher, inhibited_by, parse_matchers, routes_for

CONFIG: dict[str, Any] = yaml.safe_load(
    """
route:
  receiver: default
  routes:
    - receiver: "null"
      matchers: ['alertname = "Watchdog"']
    - receiver: pager
      matchers: ['severity =~ "critical|page"']
      continue: true
    - receiver: team-db
      match: {team: db}
    - receiver: legacy-re
      match_re: {service: "pg.*"}
      routes:
        - receiver: legacy-child
          matchers: ['{env!="prod"}']
inhibit_rules:
  - source_matchers: ['alertname = "InfoInhibitor"']
    target_matchers: ['severity = "info"']
    equal: [namespace]
"""
)


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"alertname": "Watchdog"}, ["null"]),
        ({"alertname": "X", "severity": "critical", "team": "db"}, ["pager", "team-db"]),
        ({"alertname": "X", "severity": "critical"}, ["pager"]),
        ({"alertname": "X", "severity": "criticalish"}, ["default"]),
        ({"alertname": "X", "service": "pgbouncer", "env": "prod"}, ["legacy-re"]),
        ({"alertname": "X", "service": "pgbouncer", "env": "dev"}, ["legacy-child"]),
        ({"alertname": "X"}, ["default"]),
    ],
)
def test_routes(labels: dict[str, str], expected: list[str]) -> None:
    assert routes_for(CONFIG, labels) == expected


def test_matcher_syntax() -> None:
    assert parse_matchers({"matchers": ['a="1"', "b != 2", 'c=~"x|y"', "{d!~z, e=5}"]}) == [
        Matcher("a", "=", "1"),
        Matcher("b", "!=", "2"),
        Matcher("c", "=~", "x|y"),
        Matcher("d", "!~", "z"),
        Matcher("e", "=", "5"),
    ]
    assert not Matcher("a", "=~", "x").matches({"a": "xx"}), "regex matchers are anchored"
    assert Matcher("a", "=", "").matches({}), "a missing label equals the empty string"


def test_inhibition_needs_equal_labels() -> None:
    source = {"alertname": "InfoInhibitor", "namespace": "a"}
    assert inhibited_by(CONFIG, {"severity": "info", "namespace": "a"}, source)
    assert not inhibited_by(CONFIG, {"severity": "info", "namespace": "b"}, source)
    assert not inhibited_by(CONFIG, {"severity": "warning", "namespace": "a"}, source)
