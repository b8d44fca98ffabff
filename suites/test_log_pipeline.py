"""The design's log pipeline (Promtail on clusters, the local log agent in its place): JSON pod
logs parsed (level, message, traceID, stack_trace) and labelled; health-check lines dropped."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from obs_conformance.clients.logs import LogStore
from obs_conformance.clients.polling import Patience
from obs_conformance.envconf import Environment
from obs_conformance.fixtures.emitters import SentLog
from obs_conformance.fixtures.pod_logs import Writer
from obs_conformance.fixtures.readback import assert_placement, read_logs
from obs_conformance.fixtures.sends_ahead import Sending, sends_ahead

pytestmark = [pytest.mark.logs]


NAMESPACE, CONTAINER = "jips", "billing"


def _pod_lines(sending: Sending) -> tuple[dict[str, str], float, str]:
    """A health-check line, then a JSON error line, as container billing of namespace jips prints them
    (on a cluster, in the test namespace with jips' team: the suite writes nowhere else there)."""
    health = f"GET /healthz 200 0.3ms probe={sending.probe_id}"
    payload = {
        "level": "error",
        "message": f"payment failed {sending.probe_id}",
        "traceID": "4bf92f3577b34da6a3ce929d0e0e4736",
        "stack_trace": "at Billing.charge(Billing.java:42)",
    }
    write: Writer = sending.fixture("pod_log_writer")
    written_in = write(NAMESPACE, CONTAINER, [health, json.dumps(payload)])
    return payload, time.monotonic(), written_in


@sends_ahead(_pod_lines)
def test_json_pod_log_parsed_labelled_and_health_checks_dropped(
    env: Environment,
    patience: Callable[[str], Patience],
    log_store: LogStore,
    sent: tuple[dict[str, str], float, str],
    probe_id: str,
    record_latency: Callable[[float], None],
) -> None:
    container, (payload, written_at, namespace) = CONTAINER, sent
    team = env.mapping("TEAM_BY_NAMESPACE")[NAMESPACE]

    selector = {"namespace": namespace, "team": team, "environment": env.text("ENV_NAME")}
    expected = SentLog(
        service=container,
        body=payload["message"],
        severity_text="error",
        attributes={},
        trace_id="",
        sent_at=written_at,
    )
    waited = read_logs(log_store, expected, selector, probe_id, patience("LOG"))
    record_latency(time.monotonic() - written_at)
    records = waited.value

    record = next(r for r in records if r.body == payload["message"])
    labels = {name: record.index_label(name) for name in selector}
    assert labels == selector, (
        f"log pipeline: index labels {labels}, expected {selector} (namespace, team, environment)"
    )
    # Promtail's structured_metadata stage: the trace id and stack trace stay off the index
    assert_placement(log_store, record, selector, ("traceID", "stack_trace"))
    parsed = {
        "level": record.get("level") or record.get("severity_text"),
        "traceID": record.get("traceID"),
        "stack_trace": record.get("stack_trace"),
    }
    wanted = {"level": "error", "traceID": payload["traceID"], "stack_trace": payload["stack_trace"]}
    assert parsed == wanted, f"log pipeline: JSON fields stored as {parsed}, expected {wanted}"
    dropped = [r.body for r in log_store.find(selector, probe_id) if "healthz" in r.body]
    assert not dropped, (
        f"log pipeline: health-check line stored ({dropped}); the drop stage must remove it "
        f"(it was written before the JSON line, which is already visible)"
    )
