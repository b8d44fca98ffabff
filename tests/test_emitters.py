"""The emitters fail loudly when the collector does not take what they send."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from obs_conformance.envconf import load_environment
from obs_conformance.envconf.environment import ENVIRONMENTS_DIR
from obs_conformance.fixtures.emitters import OtlpEmitter
from obs_conformance.fixtures.otlp_checked import EmitError
from tests.breakage import free_port


@pytest.fixture
def emitter(tmp_path: Path) -> OtlpEmitter:
    port = free_port()  # nothing listens there
    text = (ENVIRONMENTS_DIR / "local" / "local.env").read_text()
    text = text.replace('OTLP_GRPC_ENDPOINT="127.0.0.1:4317"', f'OTLP_GRPC_ENDPOINT="127.0.0.1:{port}"')
    text = text.replace('OTLP_HTTP_URL="http://127.0.0.1:4318"', f'OTLP_HTTP_URL="http://127.0.0.1:{port}"')
    text = text.replace('HTTP_TIMEOUT="5s"', 'HTTP_TIMEOUT="1s"')
    path = tmp_path / "dead-collector.env"
    path.write_text(text)
    return OtlpEmitter(load_environment(str(path), environ={}), "emit-test")


@pytest.mark.parametrize(
    ("what", "send", "kind"),
    [
        ("span", lambda e: e.send_trace("svc", "p"), "span"),
        ("span over HTTP", lambda e: e.send_rich_trace("p", "http"), "span"),
        ("log", lambda e: e.send_log("svc", "p", "body"), "log"),
        ("counter", lambda e: e.send_counter("svc", "p", 1), "metric"),
        ("gauge", lambda e: e.send_gauge("svc", "g", {"a": "b"}, 1.0), "metric"),
    ],
)
def test_send_to_a_dead_collector_raises(
    emitter: OtlpEmitter, what: str, send: Callable[[OtlpEmitter], object], kind: str
) -> None:
    with pytest.raises(EmitError, match=f"collector: \\d+ {kind} export\\(s\\) to OTLP/(gRPC|HTTP) .* failed"):
        send(emitter)
