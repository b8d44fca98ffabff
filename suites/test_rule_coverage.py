"""Rules that can fire, at the env's pace: every alert rule's selectors match series Prometheus holds now,
and every rule group runs every EVALUATION_INTERVAL.

A selector that matches no series (a renamed metric, a job nobody scrapes) makes its rule
unable to fire: pint's and the absent-metrics checks' finding, here on the live stack. The
selectors come from Prometheus' own parser (``/api/v1/parse_query``), each distinct one is
asked once of ``/api/v1/series`` (``limit=1``) over a recent window inside the run, and the
ones not matched yet are asked again until the metric deadline. A selector is asked by its identity:
its metric name, ``job`` and ``namespace`` matchers. A rule whose metric is absent for its source can
never fire; the other label matchers (``state="failed"``, ``integration!~".*"``, ``reason=...``) select
values that appear only when something is wrong, so matching none on a healthy stack is not dead.
Three kinds are not asked:
selectors under ``absent()``/``absent_over_time()`` (matching nothing is what makes them
answer), and ``ALERTS``/``ALERTS_FOR_STATE`` (Prometheus makes them from its alerting rules: they
must name a loaded alert, not match a series now). A selector reading a source the env's target
declares it lacks (envconf/metric_sources.py: no kube-state-metrics on the local stack), or one whose
series exist only with some hardware or configuration (RAID, bonding, remote write), is not a failure
there: it is reported by a skipped check per source, with the reason and the rules.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from obs_conformance.clients.errors import WaitTimeout
from obs_conformance.clients.polling import Observation, Patience, wait_for
from obs_conformance.clients.prometheus import PrometheusClient, Selector
from obs_conformance.envconf import Environment
from obs_conformance.envconf.metric_sources import (
    SOURCES,
    absent_sources,
    admits,
    conditional_sources,
    sources_of,
)
from obs_conformance.fixtures.options import env_of
from obs_conformance.fixtures.readback import on_prometheus_clock, prometheus_time

if TYPE_CHECKING:  # the OTel SDK loads where the emitter is built
    from obs_conformance.fixtures.emitters import OtlpEmitter

pytestmark = [pytest.mark.alerting, pytest.mark.metrics]

# series Prometheus makes itself from its alerting rules' state
ALERT_STATE_SERIES = ("ALERTS", "ALERTS_FOR_STATE")
# what the suite's own rule reads: sent by this check, so the rule is proven on data of the run
SYNTHETIC_TRIGGER = ("conformance.alert_trigger", "conformance_alert_trigger")
# the matchers that say which series a selector reads; the others pick values among them
IDENTITY_LABELS = ("__name__", "job", "namespace")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One report per metric source the env's target declares it lacks, or may lack (conditional)."""
    if "lacked_source" in metafunc.fixturenames:
        lacked = sorted(absent_sources(env_of(metafunc.config).target))
        metafunc.parametrize("lacked_source", lacked)
    if "conditional_source" in metafunc.fixturenames:
        conditional = sorted(conditional_sources(env_of(metafunc.config).target))
        metafunc.parametrize("conditional_source", conditional)


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
    lacking: dict[str, list[str]] = field(default_factory=dict)  # source -> rule and selector (lacked, conditional)
    asked: int = 0


def identity_of(selector: Selector) -> Selector:
    """The selector reduced to which series it reads: its metric name, job and namespace matchers.

    A selector without a metric name is kept whole (/api/v1/series needs a matcher that is not empty).
    """
    if not selector.metric:
        return selector
    return Selector(tuple(m for m in selector.matchers if m[0] in IDENTITY_LABELS), selector.in_absence)


def job_matchers(selector: Selector) -> list[tuple[str, str]]:
    return [(op, value) for name, op, value in selector.matchers if name == "job"]


def names_a_loaded_alert(selector: Selector, alerts: list[dict[str, Any]]) -> bool:
    """Whether an ``ALERTS`` selector can match a loaded alerting rule's series.

    Its labels are the rule's name and static labels; a label the rule does not set (one its
    expression carries, ``alertstate``) may take any value.
    """
    for rule in alerts:
        labels = {"alertname": str(rule["name"]), **{k: str(v) for k, v in (rule.get("labels") or {}).items()}}
        if all(
            name == "__name__" or name not in labels or admits(op, value, labels[name])
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
                found.update(source.name for source in sources_of(selector.metric, job_matchers(selector)))
    return found


def excused_by(selector: Selector, unchecked: Collection[str], recorded: Callable[[str], set[str]]) -> str | None:
    """The declared source the target lacks (or may lack) that the selector reads, or None.

    A selector several sources export (``kubernetes_build_info``) is excused only when all of them
    are; one on a recorded series (``recorded``: the sources behind its recording rules) when any is.
    """
    direct = sorted(source.name for source in sources_of(selector.metric, job_matchers(selector)))
    if direct:
        return direct[0] if all(name in unchecked for name in direct) else None
    return next((name for name in sorted(recorded(selector.metric)) if name in unchecked), None)


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
    unchecked = {**absent_sources(env.target), **conditional_sources(env.target)}

    def lacked_by(selector: Selector) -> str | None:
        return excused_by(selector, unchecked, lambda metric: _recorded_sources(metric, records, parse))

    # a source the target lacks is asked (it may be there after all), not waited for
    expected = {identity_of(u.selector).text for u in asked if lacked_by(u.selector) is None}
    pending = {identity_of(u.selector).text for u in asked}
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
        identity = identity_of(use.selector).text
        if identity in pending:
            what = f"{use.rule}: {use.selector.text}"
            if identity != use.selector.text:
                what += f" (no series of {identity})"
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
    scraped = next(s for s in SOURCES if s.name == lacked_source).presence
    end = prometheus_time(prometheus)
    start = max(on_prometheus_clock(prometheus, run_started), end - 300)
    assert not prometheus.has_series(scraped, start, end), (
        f"envconf/metric_sources.py: target {env.target!r} declares no {lacked_source} ({reason}), but Prometheus "
        f"scrapes it: GET {prometheus.series_url(scraped)} has series; remove the declaration so its rules are checked"
    )
    rules = sorted(set(rule_coverage.lacking.get(lacked_source, [])))
    shown = "; ".join(rules) if rules else "no loaded alerting rule reads it"
    pytest.skip(f"target {env.target!r} has no {lacked_source} ({reason}); selectors not checked: {shown}")


def test_rules_over_a_conditional_source(env: Environment, rule_coverage: Coverage, conditional_source: str) -> None:
    """Series that exist only with some hardware or configuration: checked where they exist, else
    skipped with the condition and the rules whose selectors matched nothing."""
    reason = conditional_sources(env.target)[conditional_source]
    rules = sorted(set(rule_coverage.lacking.get(conditional_source, [])))
    if rules:
        pytest.skip(
            f"target {env.target!r}: no {conditional_source} series ({reason}); selectors not checked: "
            + "; ".join(rules)
        )
    # else every selector over it matched a series here: its rules were checked by the test above


def test_every_rule_group_runs_every_evaluation_interval(
    env: Environment, prometheus: PrometheusClient, declared_rule_intervals: dict[str, float] | None
) -> None:
    """Each group's running interval (/api/v1/rules) is the env's EVALUATION_INTERVAL, or the
    ``interval:`` the group sets itself in the deployed rules (the chart's render with the env's values)."""
    if declared_rule_intervals is None:
        pytest.skip(
            "the deployed rules could not be rendered (OBSCONF_CHARTS unset, public chart repositories unreachable)"
        )
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
