"""A pytest plugin for tests/test_collector_loss_breaks.py: a log record the collector's logs exporter fails
to send, during the run (at the session's start, after the run's start is taken).

OBSCONF_TEST_COLLECTOR_LOSS holds the JSON ``{"backend": ..., "otlp_http": ..., "telemetry": ...}`` of the
test's private logs backend (which refuses while told to), collector (its OTLP/HTTP URL) and the
collector's own telemetry (its /metrics URL). The test process causes the same loss before a run with
``cause_export_failure``.
"""

from __future__ import annotations

import json
import os
import re

import pytest
import requests

from obs_conformance.clients.polling import Observation, wait_for
from obs_conformance.envconf import load_environment
from obs_conformance.fixtures.otlp_auth import otlp_headers

SEND_FAILED = re.compile(r"^otelcol_exporter_send_failed_log_records(?:_total)?(?:\{[^}]*\})? (\S+)$", re.MULTILINE)


def send_failed(telemetry: str) -> float:
    """The collector's otelcol_exporter_send_failed_log_records, summed over its series, from its own /metrics."""
    text = requests.get(telemetry, timeout=5).text
    return sum(float(value) for value in SEND_FAILED.findall(text))


def cause_export_failure(backend: str, otlp_http: str, telemetry: str) -> float:
    """The logs backend told to refuse (HTTP 400: a permanent error, not retried), one log record sent to
    the collector, polled until the collector counts its send as failed; then the backend repaired.
    Returns the collector's send-failed count then."""
    before = send_failed(telemetry)
    requests.post(f"{backend}/refuse", timeout=5).raise_for_status()
    try:
        record = {
            "resourceLogs": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "conformance-collector-loss"}}]
                    },
                    "scopeLogs": [{"logRecords": [{"body": {"stringValue": "refused by the logs backend"}}]}],
                }
            ]
        }
        headers = otlp_headers(load_environment("local"))  # the collector asks for the env's OTLP credentials
        requests.post(f"{otlp_http}/v1/logs", json=record, headers=headers, timeout=5).raise_for_status()

        def probe() -> Observation[float]:
            now = send_failed(telemetry)
            return Observation(now, now > before, f"otelcol_exporter_send_failed_log_records {now:g}")

        failed: float = wait_for(
            probe, deadline=30, max_interval=0.3, expected=f"send failures above {before:g}", where=telemetry
        ).value
    finally:
        requests.post(f"{backend}/accept", timeout=5).raise_for_status()
    return failed


def pytest_sessionstart(session: pytest.Session) -> None:
    spec = os.environ.get("OBSCONF_TEST_COLLECTOR_LOSS", "")
    if spec:
        where = json.loads(spec)
        cause_export_failure(where["backend"], where["otlp_http"], where["telemetry"])
