"""Metrics: OTLP instruments through the collector's prometheus exporter read back with the
right names, units, values and labels; every scrape target up at the env's interval; key series.

Every read-back proves this run's data: the synthetic series carry the probe id; targets and
key series need a sample newer than the run's start (on Prometheus' clock), and counters must
grow from the value they had then. A producer that stopped, whose last samples still answer
within Prometheus' lookback, fails. The bound is the run's start, not each check's: a scrape
the run has already seen is this run's data, and no check waits for another one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from obs_conformance.clients.durations import duration_seconds
from obs_conformance.clients.polling import Observation, Patience, wait_for
from obs_conformance.clients.prometheus import PrometheusClient
from obs_conformance.envconf import Environment
from obs_conformance.fixtures.emitters import SentMetric
from obs_conformance.fixtures.readback import (
    fresh,
    on_prometheus_clock,
    read_fresh,
    read_growth,
    read_series,
    since_sent,
)
from obs_conformance.fixtures.sends_ahead import Sending, sends_ahead

pytestmark = [pytest.mark.metrics]


def of_scrape_jobs(env: Environment, selector: str) -> str:
    """``selector`` limited to the env's SCRAPE_JOBS: a big Prometheus holds the series of thousands of
    other targets under these names (every pod's ``up``), which each poll would otherwise read and return."""
    jobs = [job.strip() for job in env.text("SCRAPE_JOBS").split(",")]
    return selector + "{job=~" + json.dumps("|".join(re.escape(job) for job in jobs)) + "}"


def _counter(sending: Sending) -> SentMetric:
    return sending.emitter.send_counter("conformance-metrics", sending.probe_id, value=7)


@pytest.mark.smoke
@sends_ahead(_counter)
def test_counter_read_back_by_promql(
    patience: Callable[[str], Patience],
    sent: SentMetric,
    prometheus: PrometheusClient,
    record_latency: Callable[[float], None],
) -> None:
    waited = read_series(prometheus, sent, patience("METRIC"))
    record_latency(since_sent(sent))

    series = [s for s in waited.value if s.value == sent.value]
    assert len(series) == 1, f"Prometheus: expected one series {sent.prometheus_name}{sent.labels}, got {waited.value}"


def _instruments(sending: Sending) -> dict[str, SentMetric]:
    return sending.emitter.send_instruments("conformance-instruments", sending.probe_id)


@sends_ahead(_instruments)
def test_counter_gauge_histogram_names_units_values(
    patience: Callable[[str], Patience], sent: dict[str, SentMetric], prometheus: PrometheusClient
) -> None:
    for metric in sent.values():
        waited = read_series(prometheus, metric, patience("METRIC"))
        [sample] = [s for s in waited.value if s.value == metric.value]
        job = sample.labels.get("job")
        assert job == "conformance-instruments", (
            f"Prometheus: {metric.prometheus_name} has job={job!r}, expected the service.name 'conformance-instruments'"
        )


@pytest.mark.smoke
def test_every_expected_target_up_at_env_interval(
    env: Environment, patience: Callable[[str], Patience], prometheus: PrometheusClient, run_started: float
) -> None:
    since = on_prometheus_clock(prometheus, run_started)
    expected_jobs = [job.strip() for job in env.text("SCRAPE_JOBS").split(",")]
    targets = prometheus.targets()
    by_job: dict[str, list[str]] = {}
    for target in targets:
        by_job.setdefault(target.job, []).append(target.health)
    missing = [job for job in expected_jobs if job not in by_job]
    assert not missing, f"Prometheus: no scrape target for jobs {missing} (jobs: {sorted(by_job)})"

    promql = fresh(of_scrape_jobs(env, "up"), since)

    def scraped() -> Observation[list[str]]:
        seen = {s.labels.get("job", "") for s in prometheus.query(promql)}
        unscraped = [job for job in expected_jobs if job not in seen]
        return Observation(unscraped, not unscraped, f"jobs not scraped since: {unscraped}")

    wait_for(
        scraped,
        patience=patience("METRIC"),
        expected=f"a scrape of every job {expected_jobs} after the run started (Prometheus time {since:.3f})",
        where=f"Prometheus: GET {prometheus.query_url(promql)}",
    )
    targets = prometheus.targets()  # health as of those scrapes
    down = [f"{t.job} {t.instance}: {t.health} ({t.last_error})" for t in targets if t.health != "up"]
    assert not down, "Prometheus: targets not up:\n  " + "\n  ".join(down)
    interval = env.duration("SCRAPE_INTERVAL")
    wrong = {
        f"{t.job} {t.instance}": t.scrape_interval
        for t in targets
        if t.job in expected_jobs and duration_seconds(t.scrape_interval) != interval.seconds
    }
    assert not wrong, f"Prometheus: scrape intervals {wrong}, expected {interval} (SCRAPE_INTERVAL)"


@pytest.mark.parametrize(
    ("selector", "kind", "what"),
    [
        pytest.param("pg_up", "is 1", "postgres-exporter: pg_up (it reaches PostgreSQL)", id="pg_up"),
        pytest.param(
            "pg_stat_database_xact_commit",
            "grows",
            "postgres-exporter: pg_stat_database_xact_commit",
            id="pg_stat_database",
        ),
        pytest.param(
            "pg_stat_activity_count", "is sampled", "postgres-exporter: pg_stat_activity_count", id="pg_stat_activity"
        ),
        # any mode: a CPU's modes add up to wall time (idle alone stands still on a busy host)
        pytest.param("node_cpu_seconds_total", "grows", "node-exporter: node_cpu_seconds_total", id="node_cpu"),
        pytest.param(
            "node_memory_MemAvailable_bytes",
            "is positive",
            "node-exporter: node_memory_MemAvailable_bytes",
            id="node_memory",
        ),
    ],
)
def test_key_series_present(
    env: Environment,
    patience: Callable[[str], Patience],
    prometheus: PrometheusClient,
    run_started: float,
    selector: str,
    kind: str,
    what: str,
) -> None:
    """Sampled during this run (counters: grown since its start), not left over from before it."""
    run_start = on_prometheus_clock(prometheus, run_started)
    selector = of_scrape_jobs(env, selector)
    if kind == "grows":
        read_growth(prometheus, selector, run_start, patience("METRIC"), what)
        return
    accept = {"is 1": lambda v: v == 1, "is positive": lambda v: v > 0, "is sampled": lambda v: True}[kind]
    read_fresh(prometheus, selector, accept, run_start, patience("METRIC"), f"{what} {kind}")
