"""Metrics: a counter sent over OTLP to the collector is read back from Prometheus by PromQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from clients.polling import Patience
from clients.prometheus import PrometheusClient
from envconf import Environment
from fixtures.emitters import OtlpEmitter
from fixtures.readback import read_series

pytestmark = [pytest.mark.metrics, pytest.mark.smoke]


def test_counter_read_back_by_promql(
    env: Environment,
    patience: Callable[[str], Patience],
    emitter: OtlpEmitter,
    prometheus: PrometheusClient,
    probe_id: str,
    record_property: Callable[[str, object], None],
) -> None:
    sent = emitter.send_counter("conformance-metrics", probe_id, value=7)

    waited = read_series(prometheus, sent, patience("METRIC"))
    record_property("latency_seconds", round(waited.seconds, 3))

    series = [s for s in waited.value if s.value == sent.value]
    assert len(series) == 1, f"Prometheus: expected one series {sent.prometheus_name}{sent.labels}, got {waited.value}"
