"""Rules that can fire, at the env's pace: every alert rule's selectors match series Prometheus holds now,
and every rule group runs every EVALUATION_INTERVAL.

A selector that matches no series (a renamed metric, a job nobody scrapes) makes its rule
unable to fire: pint's and the absent-metrics checks' finding, here on the live stack. The
selectors come from Prometheus' own parser (``/api/v1/parse_query``), each distinct one is
asked once of ``/api/v1/series`` (``limit=1``) over a recent window inside the run, and the
ones not matched yet are asked again until the metric deadline. Three kinds are not asked:
selectors under ``absent()``/``absent_over_time()`` (matching nothing is what makes them
answer), and ``ALERTS``/``ALERTS_FOR_STATE`` (Prometheus makes them from its alerting rules: they
must name a loaded alert, not match a series now). A selector reading a source the env's target
declares it lacks (envconf/metric_sources.py: no kube-state-metrics on the local stack) is not a
failure there: it is reported by a skipped check per source, with the reason and the rules.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from obs_conformance.clients.errors import WaitTimeout
from obs_conformance.clients.polling import Observation, Patience, wait_for
from obs_conformance.clients.prometheus import PrometheusClient, Selector
from obs_conformance.envconf import Environment
from obs_conformance.envconf.metric_sources import SOURCES, absent_sources, source_of
from obs_conformance.fixtures.options import env_of
from obs_conformance.fixtures.readback import on_prometheus_clock, prometheus_time

if TYPE_CHECKING:  # the OTel SDK loads where the emitter is built
    from obs_conformance.fixtures.emitters import OtlpEmitter

pytestmark = [pytest.mark.alerting, pytest.mark.metrics]

# series Prometheus makes itself from its alerting rules' state
ALERT_STATE_SERIES = ("ALERTS", "ALERTS_FOR_STATE")
# what the suite's own rule reads: sent by this check, so the rule is proven on data of the run
SYNTHETIC_TRIGGER = ("conformance.alert_trigger", "conformance_alert_trigger")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One report per metric source the env's target declares it lacks."""
    if "lacked_source" in metafunc.fixturenames:
        lacked = sorted(absent_sources(env_of(metafunc.config).target))
        metafunc.parametrize("lacked_source", lacked)


@dataclass(frozen=True)
class Use:
    """One selector of one alerting rule."""

    rule: str  # group/name
    selector: Selector


@dataclass
class Coverage:
    """The alert rules' selectors, sorted by what the live Prometheus answered for them."""

    window: str  # how the series were asked, for the messages
    dead: list[str] = field(default_factory=list)  # a rule and a selector that matches nothing
    lacking: dict[str, list[str]] = field(default_factory=dict)  # source -> rule and selector
    asked: int = 0


def _matches(op: str, value: str, actual: str) -> bool:
    if op == "=":
        return actual == value
    if op == "!=":
        return actual != value
    found = re.fullmatch(value, actual) is not None
    return found if op == "=~" else not found


def names_a_loaded_alert(selector: Selector, alerts: list[dict[str, Any]]) -> bool:
    """Whether an ``ALERTS`` selector can match a loaded alerting rule's series.

    Its labels are the rule's name and static labels; a label the rule does not set (one its
    expression carries, ``alertstate``) may take any value.
    """
    for rule in alerts:
        labels = {"alertname": str(rule["name"]), **{k: str(v) for k, v in (rule.get("labels") or {}).items()}}
        if all(
            name == "__name__" or name not in labels or _matches(op, value, labels[name])
            for name, op, value in selector.matchers
        ):
            return True
    return False


def _recorded_sources(metric: str, records: dict[str, list[str]], parse: Callable[[str], list[Selector]]) -> set[str]:
    """The declared sources behind a recorded series: those its recording rules read, recursively."""
    found: set[str] = set()
    pending, seen = [metric], set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        for query in records.get(name, []):
            for selector in parse(query):
                if selector.metric in records:
                    pending.append(selector.metric)
                source = source_of(selector.metric, selector.label("job"))
                if source is not None:
                    found.add(source.name)
    return found


@pytest.fixture(scope="module")
def rule_coverage(
    env: Environment,
    patience: Callable[[str], Patience],
    prometheus: PrometheusClient,
    emitter: OtlpEmitter,
    run_started: float,
    run_id: str,
) -> Coverage:
    """Each alert rule's selectors asked of /api/v1/series until matched or the metric deadline."""
    # the synthetic rule's trigger, at 0 (it fires at > 0): its selector then matches data of this run
    emitter.send_gauge("conformance-rule-coverage", SYNTHETIC_TRIGGER[0], {"run_id": f"{run_id}-coverage"}, 0)
    groups = prometheus.rule_groups()
    rules = [{**rule, "group": group["name"]} for group in groups for rule in group["rules"]]
    alerts = [r for r in rules if r["type"] == "alerting"]
    records: dict[str, list[str]] = {}
    for rule in rules:
        if rule["type"] == "recording":
            records.setdefault(str(rule["name"]), []).append(str(rule["query"]))
    parsed: dict[str, list[Selector]] = {}

    def parse(query: str) -> list[Selector]:
        if query not in parsed:
            parsed[query] = prometheus.selectors(query)
        return parsed[query]

    uses = [Use(f"{r['group']}/{r['name']}", s) for r in alerts for s in parse(str(r["query"]))]
    asked = [u for u in uses if not u.selector.in_absence and u.selector.metric not in ALERT_STATE_SERIES]
    lacked = absent_sources(env.target)

    def lacked_by(selector: Selector) -> str | None:
        """The first declared-absent source the selector reads (through recording rules too), or None."""
        source = source_of(selector.metric, selector.label("job"))
        behind = {source.name} if source else _recorded_sources(selector.metric, records, parse)
        return next((name for name in sorted(behind) if name in lacked), None)

    # a source the target lacks is asked once (it may be there after all), not waited for
    expected = {u.selector.text for u in asked if lacked_by(u.selector) is None}
    pending = {u.selector.text for u in asked}
    # a recent window that never reaches before the run: two scrapes or evaluations, or since the run's start
    recent = 2 * max(env.duration("SCRAPE_INTERVAL").seconds, env.duration("EVALUATION_INTERVAL").seconds) + 1
    run_start = on_prometheus_clock(prometheus, run_started)

    def probe() -> Observation[set[str]]:
        end = prometheus_time(prometheus)
        start = max(end - recent, run_start)
        for text in sorted(pending):
            if prometheus.has_series(text, start, end):
                pending.discard(text)
        missing = pending & expected
        return Observation(missing, not missing, f"{len(missing)} of {len(expected)} selectors match no series yet")

    with contextlib.suppress(WaitTimeout):  # the unmatched ones are reported by the checks below, by rule
        wait_for(
            probe,
            patience=patience("METRIC"),
            expected="a series for every selector of every alerting rule",
            where=f"Prometheus: GET {prometheus.url('/api/v1/series')} (limit=1), one call per selector",
        )
    coverage = Coverage(
        window=(
            f"no series sampled within the last {recent:g}s (since the run's start at the earliest), "
            f"asked until the metric deadline: GET {prometheus.url('/api/v1/series')}?limit=1&match[]=..."
        ),
        asked=len(asked),
    )
    for use in asked:
        if use.selector.text in pending:
            what = f"{use.rule}: {use.selector.text}"
            source_name = lacked_by(use.selector)
            if source_name is None:
                coverage.dead.append(what)
            else:
                coverage.lacking.setdefault(source_name, []).append(what)
    for use in uses:
        if use.selector.metric in ALERT_STATE_SERIES and not names_a_loaded_alert(use.selector, alerts):
            coverage.dead.append(f"{use.rule}: {use.selector.text} (no loaded alerting rule makes such a series)")
    return coverage


def test_every_alert_rule_selector_matches_a_series(rule_coverage: Coverage) -> None:
    """A rule whose selector matches nothing can never fire: named with the selector."""
    assert rule_coverage.asked, "Prometheus: no alerting rule selector to ask (is any alerting rule loaded?)"
    dead = sorted(set(rule_coverage.dead))
    assert not dead, (
        f"Prometheus: alerting rules that can never fire, a selector matching no series ({rule_coverage.window}):\n  "
        + "\n  ".join(dead)
    )


def test_rules_over_a_source_the_target_lacks(
    env: Environment, prometheus: PrometheusClient, rule_coverage: Coverage, run_started: float, lacked_source: str
) -> None:
    """Declared absent, so its rules are not failed here: skipped with the reason, or failed if it exists after all."""
    reason = absent_sources(env.target)[lacked_source]
    source = next(s for s in SOURCES if s.name == lacked_source)
    scraped = "up{job=~" + repr("|".join(re.escape(j) for j in source.jobs)).replace("'", '"') + "}"
    end = prometheus_time(prometheus)
    start = max(on_prometheus_clock(prometheus, run_started), end - 300)
    assert not prometheus.has_series(scraped, start, end), (
        f"envconf/metric_sources.py: target {env.target!r} declares no {lacked_source} ({reason}), but Prometheus "
        f"scrapes it: GET {prometheus.series_url(scraped)} has series; remove the declaration so its rules are checked"
    )
    rules = sorted(set(rule_coverage.lacking.get(lacked_source, [])))
    shown = "; ".join(rules) if rules else "no loaded alerting rule reads it"
    pytest.skip(f"target {env.target!r} has no {lacked_source} ({reason}); selectors not checked: {shown}")


def test_every_rule_group_runs_every_evaluation_interval(
    env: Environment, prometheus: PrometheusClient, declared_rule_intervals: dict[str, float]
) -> None:
    """Each group's running interval (/api/v1/rules) is the env's EVALUATION_INTERVAL, or the
    ``interval:`` the group sets itself in the deployed rules (the chart's render with the env's values)."""
    default = env.duration("EVALUATION_INTERVAL")
    groups = prometheus.rule_groups()
    assert groups, f"Prometheus: no rule group loaded (GET {prometheus.url('/api/v1/rules')})"
    wrong = []
    for group in groups:
        expected = declared_rule_intervals.get(group["name"], default.seconds)
        source = (
            "its own interval in the deployed rules"
            if group["name"] in declared_rule_intervals
            else "EVALUATION_INTERVAL"
        )
        if float(group["interval"]) != expected:
            wrong.append(
                f"{group['name']} ({group.get('file', '')}): expected every {expected:g}s ({source}), "
                f"runs every {float(group['interval']):g}s"
            )
    assert not wrong, (
        f"Prometheus: rule groups at the wrong interval (GET {prometheus.url('/api/v1/rules')}):\n  "
        + "\n  ".join(wrong)
    )
