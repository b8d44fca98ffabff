"""The running collector's config is found through the process that listens on the OTLP endpoint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from obs_conformance.fixtures.collector_config import CollectorConfigError, local_collector_config

LISTENER = (
    "import socket, sys\n"
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
    "print(s.getsockname()[1], flush=True); sys.stdin.readline()\n"
)


def test_config_of_the_process_listening_on_the_endpoint(tmp_path: Path) -> None:
    config = tmp_path / "otelcol.yaml"
    config.write_text("service:\n  pipelines:\n    logs: {processors: [memory_limiter]}\n")
    process = subprocess.Popen(
        [sys.executable, "-c", LISTENER, f"--config={config}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        found, where = local_collector_config(f"127.0.0.1:{port}")
    finally:
        process.communicate("\n", timeout=10)
    assert found == {"service": {"pipelines": {"logs": {"processors": ["memory_limiter"]}}}}
    assert where == f"the config of process {process.pid} serving OTLP at 127.0.0.1:{port} ({config})"


def test_nothing_listening_is_a_clear_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CollectorConfigError, match=f"nothing listens on 127.0.0.1:{port}"):
        local_collector_config(f"127.0.0.1:{port}")
