"""Every suite check can fail: break one backend and exactly its check fails, naming it.

These run the real suites in a subprocess against the running local stack, with
one backend's URL pointed at a closed port (an unreachable backend, as a stopped
process looks from the outside), so the shared stack is never disturbed.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from obs_conformance.envconf.environment import ENVIRONMENTS_DIR

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.usefixtures("stack")]

ROOT = Path(__file__).resolve().parent.parent
LOCAL = (ENVIRONMENTS_DIR / "local" / "local.env").read_text()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_suites(env_file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "suites",
        "--env",
        str(env_file),
        "--no-stack-up",
        "-q",
        "--no-reports",
        *extra,
    ]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)


@pytest.mark.parametrize(
    ("key", "failing_test", "names"),
    [
        ("LOGS_URL", "test_logs.py::test_log_record_read_back_by_label_query", "log store (VictoriaLogs"),
        ("TRACES_URL", "test_traces.py::test_span_read_back_by_trace_id", "trace store (Jaeger"),
        (
            "PROMETHEUS_URL",
            "test_metrics.py::test_counter_read_back_by_promql test_metrics.py::test_every_expected_target_up_at_env_interval",
            "Prometheus: GET",
        ),
        ("SLACK_MOCK_URL", "test_alerting.py::test_alert_posted_to_alertmanager_reaches_slack", "Slack mock: GET"),
    ],
)
def test_unreachable_backend_fails_exactly_its_check(tmp_path: Path, key: str, failing_test: str, names: str) -> None:
    original = next(line for line in LOCAL.splitlines() if line.startswith(f"{key}="))
    dead = f'{key}="http://127.0.0.1:{closed_port()}"'
    env_file = tmp_path / "broken.env"
    env_file.write_text(LOCAL.replace(original, dead))

    result = run_suites(env_file, "-m", "smoke")

    assert result.returncode == 1, result.stdout[-3000:]
    failed = [line.split(" ")[1] for line in result.stdout.splitlines() if line.startswith("FAILED ")]
    assert failed == [f"suites/{name}" for name in failing_test.split()], result.stdout[-3000:]
    assert names in result.stdout, result.stdout[-3000:]
    assert dead.split('"')[1] in result.stdout, "the message must show the URL it looked at"


def test_malformed_env_file_is_one_clear_error_line(tmp_path: Path) -> None:
    env_file = tmp_path / "bad.env"
    env_file.write_text(LOCAL.replace('SCRAPE_INTERVAL="1s"', 'SCRAPE_INTERVAL="often"'))
    line = LOCAL.splitlines().index('SCRAPE_INTERVAL="1s"') + 1

    result = run_suites(env_file)

    assert result.returncode == 4, result.stdout + result.stderr
    errors = [text for text in result.stderr.splitlines() if text.strip()]
    problem = "SCRAPE_INTERVAL: 'often' is not a duration (like 500ms, 30s, 5m, 30d)"
    assert errors == [f"ERROR: bad environment: {env_file}:{line}: {problem}"]


def test_deployer_rejects_malformed_env_with_one_line(tmp_path: Path) -> None:
    env_file = tmp_path / "bad.env"
    env_file.write_text(LOCAL.replace('LOKI_STORAGE_SIZE="10Gi"', 'LOKI_STORAGE_SIZE="10 GB"'))
    argv = [sys.executable, "-m", "deployer", "local", "status", "--env", str(env_file)]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "LOKI_STORAGE_SIZE: '10 GB' is not a size" in result.stderr
