"""Alertmanager's routing and inhibition, evaluated from its running config like
``amtool config routes test``: which receivers a label set reaches, and whether it is inhibited.

Semantics follow Alertmanager: a route matches when all its matchers match;
children are tried in order and the first match wins unless it has ``continue``;
when no child matches, the route itself takes the alert. Regex matchers are anchored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$')


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op == "=~" else not found


def parse_matchers(route: dict[str, Any], prefix: str = "") -> list[Matcher]:
    """Matchers of a route (``matchers``, legacy ``match`` / ``match_re``) or an inhibit side (``source_``/``target_``)."""
    found: list[Matcher] = []
    for text in route.get(f"{prefix}matchers") or []:
        for part in str(text).strip("{}").split(","):
            if part.strip():
                match = _MATCHER.match(part)
                if match is None:
                    raise ValueError(f"cannot parse matcher {part!r}")
                found.append(Matcher(match.group(1), match.group(2), match.group(3)))
    found += [Matcher(k, "=", str(v)) for k, v in (route.get(f"{prefix}match") or {}).items()]
    found += [Matcher(k, "=~", str(v)) for k, v in (route.get(f"{prefix}match_re") or {}).items()]
    return found


@dataclass
class Route:
    receiver: str
    matchers: list[Matcher]
    cont: bool
    routes: list[Route] = field(default_factory=list)

    @classmethod
    def parse(cls, raw: dict[str, Any], parent_receiver: str = "") -> Route:
        receiver = raw.get("receiver") or parent_receiver
        return cls(
            receiver=receiver,
            matchers=parse_matchers(raw),
            cont=bool(raw.get("continue", False)),
            routes=[cls.parse(child, receiver) for child in raw.get("routes") or []],
        )

    def receivers(self, labels: dict[str, str]) -> list[str]:
        """The receivers ``labels`` reaches from this (already matched) route."""
        reached: list[str] = []
        for child in self.routes:
            if all(m.matches(labels) for m in child.matchers):
                reached += child.receivers(labels)
                if not child.cont:
                    break
        return reached or [self.receiver]


def routes_for(config: dict[str, Any], labels: dict[str, str]) -> list[str]:
    return Route.parse(config["route"]).receivers(labels)


def inhibited_by(config: dict[str, Any], target: dict[str, str], source: dict[str, str]) -> bool:
    """Whether a firing ``source`` alert inhibits ``target`` under the config's inhibit rules."""
    for rule in config.get("inhibit_rules") or []:
        if not all(m.matches(source) for m in parse_matchers(rule, "source_")):
            continue
        if not all(m.matches(target) for m in parse_matchers(rule, "target_")):
            continue
        if all(source.get(name, "") == target.get(name, "") for name in rule.get("equal") or []):
            return True
    return False


def inhibiting_rule(config: dict[str, Any], target: dict[str, str], source: dict[str, str]) -> dict[str, Any] | None:
    """The first inhibit rule under which a firing ``source`` mutes ``target``, or None."""
    for rule in config.get("inhibit_rules") or []:
        if inhibited_by({"inhibit_rules": [rule]}, target, source):
            return dict(rule)
    return None


def companions_when_alone(alert: dict[str, str]) -> list[dict[str, str]]:
    """What fires beside an alert that fires alone, by the chart's general.rules: Watchdog always, and
    InfoInhibitor in the alert's namespace when the alert is severity info (no warning or critical there)."""
    firing = [{"alertname": "Watchdog", "severity": "none"}]
    if alert.get("severity") == "info":
        firing.append({"alertname": "InfoInhibitor", "severity": "none", "namespace": alert.get("namespace", "")})
    return firing


def undelivered_reason(config: dict[str, Any], alert: dict[str, str], channel: str) -> str | None:
    """Why ``alert``, firing alone, would not reach a Slack receiver of ``channel``; None when it would.

    Routing alone is not enough: an inhibit rule mutes an alert whatever its route (Alertmanager
    applies inhibition before notifying), so the alerts that fire beside it are checked as sources.
    """
    wanted = {
        r["name"]
        for r in config.get("receivers") or []
        if any(s.get("channel") == channel for s in r.get("slack_configs") or [])
    }
    name, severity = alert.get("alertname", "?"), alert.get("severity", "")
    reached = routes_for(config, alert)
    if not set(reached) & wanted:
        return f"{name} (severity {severity}) is routed to {reached}, not to a Slack receiver of {channel} {sorted(wanted)}"
    for source in companions_when_alone(alert):
        rule = inhibiting_rule(config, alert, source)
        if rule is not None:
            return (
                f"{name} (severity {severity}) is inhibited while {source['alertname']} fires (it fires whenever "
                f"{name} fires alone): inhibit rule {rule}; it never reaches {channel}"
            )
    return None
