"""Metrics: OTLP instruments through the collector's prometheus exporter read back with the
right names, units, values and labels; every scrape target up at the env's interval; key series."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from clients.polling import Patience
from clients.prometheus import PrometheusClient
from envconf import Environment
from envconf.values import parse_duration
from fixtures.emitters import OtlpEmitter
from fixtures.readback import read_series

pytestmark = [pytest.mark.metrics]


@pytest.mark.smoke
def test_counter_read_back_by_promql(
    patience: Callable[[str], Patience],
    emitter: OtlpEmitter,
    prometheus: PrometheusClient,
    probe_id: str,
    record_latency: Callable[[float], None],
) -> None:
    sent = emitter.send_counter("conformance-metrics", probe_id, value=7)

    waited = read_series(prometheus, sent, patience("METRIC"))
    record_latency(waited.seconds)

    series = [s for s in waited.value if s.value == sent.value]
    assert len(series) == 1, f"Prometheus: expected one series {sent.prometheus_name}{sent.labels}, got {waited.value}"


def test_counter_gauge_histogram_names_units_values(
    patience: Callable[[str], Patience], emitter: OtlpEmitter, prometheus: PrometheusClient, probe_id: str
) -> None:
    sent = emitter.send_instruments("conformance-instruments", probe_id)
    for metric in sent.values():
        waited = read_series(prometheus, metric, patience("METRIC"))
        [sample] = [s for s in waited.value if s.value == metric.value]
        job = sample.labels.get("job")
        assert job == "conformance-instruments", (
            f"Prometheus: {metric.prometheus_name} has job={job!r}, expected the service.name 'conformance-instruments'"
        )


@pytest.mark.smoke
def test_every_expected_target_up_at_env_interval(env: Environment, prometheus: PrometheusClient) -> None:
    targets = prometheus.targets()
    by_job: dict[str, list[str]] = {}
    for target in targets:
        by_job.setdefault(target.job, []).append(target.health)
    expected_jobs = [job.strip() for job in env.text("SCRAPE_JOBS").split(",")]
    missing = [job for job in expected_jobs if job not in by_job]
    assert not missing, f"Prometheus: no scrape target for jobs {missing} (jobs: {sorted(by_job)})"
    down = [f"{t.job} {t.instance}: {t.health} ({t.last_error})" for t in targets if t.health != "up"]
    assert not down, "Prometheus: targets not up:\n  " + "\n  ".join(down)
    interval = env.duration("SCRAPE_INTERVAL")
    wrong = {
        f"{t.job} {t.instance}": t.scrape_interval
        for t in targets
        if t.job in expected_jobs and parse_duration(t.scrape_interval).seconds != interval.seconds
    }
    assert not wrong, f"Prometheus: scrape intervals {wrong}, expected {interval} (SCRAPE_INTERVAL)"


@pytest.mark.parametrize(
    ("promql", "what"),
    [
        ("pg_up == 1", "postgres-exporter reaches PostgreSQL"),
        ('count({__name__=~"pg_stat_database_.+"}) > 0', "pg_stat_database_* series"),
        ("count(pg_stat_activity_count) > 0", "pg_stat_activity_count"),
        ('count(node_cpu_seconds_total{mode="idle"}) > 0', "node_cpu_seconds_total"),
        ("node_memory_MemAvailable_bytes > 0", "node_memory_* series"),
    ],
)
def test_key_series_present(prometheus: PrometheusClient, promql: str, what: str) -> None:
    samples = prometheus.query(promql)
    assert samples, f"Prometheus: {what}: {prometheus.query_url(promql)} returned an empty vector"
