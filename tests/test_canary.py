"""The canary (canary/): bad input refused before a round; its rules render; and on the local stack,
a real outage of the log store seen by the canary, alerted on through Prometheus and Alertmanager to
the Slack mock, and resolved when the store is back."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml

from obs_conformance.canary.cli import main
from obs_conformance.canary.local_prometheus import LocalPrometheus
from obs_conformance.canary.rules import RuleSettings, prometheus_rule, rule_file
from obs_conformance.clients import registry
from obs_conformance.clients.polling import Observation, wait_for
from obs_conformance.envconf import Environment, load_environment
from obs_conformance.envconf.environment import ENVIRONMENTS_DIR

ROOT = Path(__file__).resolve().parent.parent
LOG_CHECK = "test_log_record_read_back_by_label_query"
ALERT = "ConformanceCanaryCheckFailing"


def test_rules_render_for_prometheus_and_the_operator() -> None:
    settings = RuleSettings(namespace="kube-prometheus-stack", failing_rounds=4)
    groups = yaml.safe_load(rule_file(settings))["groups"]
    alerts = {rule["alert"]: rule for group in groups for rule in group["rules"]}
    assert sorted(alerts) == sorted(
        [ALERT, "ConformanceCanaryDown", "ConformanceCanaryStale", "ConformanceCanaryProbesMissing"]
    )
    assert alerts[ALERT]["expr"].endswith(">= 4")
    assert "[1h]" in alerts["ConformanceCanaryProbesMissing"]["expr"]
    assert all(
        rule["labels"] == {"severity": "warning", "namespace": "kube-prometheus-stack"} for rule in alerts.values()
    )
    document = prometheus_rule(settings)
    assert document["kind"] == "PrometheusRule" and document["metadata"]["labels"] == {"release": "prom-stack"}
    assert document["spec"]["groups"] == groups


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--every", "5x"], "is not a duration"),
        (["--every", "0s"], "is not a positive duration"),
        (["--every", "5s", "-m", "smoke and bogus"], "names unknown marker(s) ['bogus']"),
        (["--every", "5s", "-m", "smoke and ("], "is not a marker expression"),
        (["--every", "5s", "--env", "no-such-env"], "bad environment"),
        (["--every", "5s", "--listen", "localhost"], "is not HOST:PORT"),
    ],
)
def test_bad_input_is_one_line_and_a_nonzero_exit(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["canary", *argv])
    except SystemExit as e:  # argparse's own refusal
        code = int(e.code or 0)
    err = capsys.readouterr().err
    assert code == 2, err
    assert said in err
    assert "Traceback" not in err


def test_unreachable_stack_at_start_exits_3_before_a_round(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (ENVIRONMENTS_DIR / "local" / "local.env").read_text()
    text = re.sub(
        r'^(PROMETHEUS_URL|ALERTMANAGER_URL|LOGS_URL|TRACES_URL)="http://127\.0\.0\.1:\d+"',
        r'\1="http://127.0.0.1:9"',
        text,
        flags=re.M,
    )
    text = re.sub(r'^HTTP_TIMEOUT=".*"', 'HTTP_TIMEOUT="1s"', text, flags=re.M)
    env_file = tmp_path / "down.env"
    env_file.write_text(text)
    code = main(["canary", "--every", "5s", "--env", str(env_file), "--no-reports"])
    err = capsys.readouterr().err
    assert code == 3, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "is unreachable" in lines[0], err


# --- on the local stack -------------------------------------------------------------------------


class Canary:
    """``obs-conformance canary`` as a process: its stderr kept, its metrics read."""

    def __init__(self, args: list[str]) -> None:
        script = Path(sys.executable).parent / "obs-conformance"
        self.process = subprocess.Popen(
            [str(script), "canary", *args], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=ROOT
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip())

    def metrics_url(self) -> str:
        def started() -> Observation[str]:
            found = [m.group(1) for line in self.lines if (m := re.search(r"metrics on (http://\S+)", line))]
            exited = self.process.poll()
            if exited is not None:
                raise AssertionError(f"canary exited {exited}: {self.lines[-5:]}")
            return Observation(found[0] if found else "", bool(found), f"stderr: {self.lines[-3:]}")

        return wait_for(started, deadline=60, expected="the canary's metrics address", where="its stderr").value

    def metric(self, url: str, name: str, **labels: str) -> float:
        """The sample of ``name`` whose label values end with ``labels``' (a check is named by its nodeid)."""
        for line in requests.get(url, timeout=5).text.splitlines():
            if line.startswith(name + "{") and all(
                re.search(f'{k}="[^"]*{re.escape(v)}"', line) for k, v in labels.items()
            ):
                return float(line.rsplit(" ", 1)[1])
        return float("nan")

    def stop(self, timeout: float) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise
        finally:
            self.reader.join(timeout=10)  # stderr ends with the process
            if self.process.stderr is not None:
                self.process.stderr.close()


def deployer(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "deployer", "local", *args], cwd=ROOT, check=True, timeout=600, capture_output=True
    )


def check_success(env: Environment, value: int) -> Observation[str]:
    samples = registry.prometheus(env).query(f'obs_conformance_check_success{{check=~".*{LOG_CHECK}"}}')
    seen = [s.value for s in samples]
    return Observation("", value in seen, f"obs_conformance_check_success of the log check: {seen}")


@pytest.mark.stack
@pytest.mark.slow
@pytest.mark.outage  # the log store is the stack's: `make test` runs this alone, after the other tests
@pytest.mark.usefixtures("stack")
def test_canary_alerts_on_a_log_store_outage_and_resolves(tmp_path: Path) -> None:
    env = load_environment("local")
    local = LocalPrometheus(env)
    assert local.configured(), "the local Prometheus has no canary job: `python -m deployer local up` renders it"
    slack = registry.slack_mock(env)
    prometheus = registry.prometheus(env)
    canary = Canary(
        ["--env", "local", "--every", "2s", "-m", "smoke and (logs or traces)", "--local-prometheus",
         "--alert-after-rounds", "2", "--ledger-retries", "2", "--reports-dir", str(tmp_path / "reports"), "--history", "3"]
    )  # fmt: skip
    stopped = False
    try:
        url = canary.metrics_url()
        wait_for(
            lambda: check_success(env, 1),
            deadline=90,
            expected="the log check passing, scraped",
            where=prometheus.url("/api/v1/query"),
        )
        since = slack.on_mock_clock(time.time())
        deployer("down", "logs-store")
        stopped = True
        wait_for(
            lambda: check_success(env, 0),
            deadline=120,
            expected="the log check failing",
            where=prometheus.url("/api/v1/query"),
        )

        def message(status: str, after: float) -> Observation[float]:
            found = [
                m
                for m in slack.messages(contains=ALERT, since=after)
                if f"[{status}]" in m.all_text and LOG_CHECK in m.all_text
            ]
            return Observation(
                found[0].received_at if found else 0.0,
                bool(found),
                f"{len(slack.messages(contains=ALERT, since=after))} messages naming {ALERT}",
            )

        fired = wait_for(
            lambda: message("FIRING", since),
            deadline=120,
            expected=f"[FIRING] {ALERT} naming {LOG_CHECK}",
            where=slack.url("/api/messages"),
        ).value
        deployer("up")
        stopped = False
        wait_for(
            lambda: check_success(env, 1),
            deadline=120,
            expected="the log check passing again",
            where=prometheus.url("/api/v1/query"),
        )
        wait_for(
            lambda: message("RESOLVED", fired),
            deadline=120,
            expected=f"[RESOLVED] {ALERT}",
            where=slack.url("/api/messages"),
        )
        # the ledger saw the outage: log probes late, missing or still looked for, never all in time
        unseen = sum(
            canary.metric(url, f"obs_conformance_ledger_{what}", signal="logs")
            for what in ("found_late_total", "missing_total", "pending")
        )
        assert unseen >= 1, f"the ledger counted no log probe lost in the outage: {canary.lines[-5:]}"
        assert canary.metric(url, "obs_conformance_check_failures_total", check=LOG_CHECK) >= 2, canary.lines[-10:]
        assert canary.stop(timeout=120) == 0, canary.lines[-10:]
        assert not local.rules.exists() and not local.targets.exists(), "the canary left its rule file or target behind"
        reports = [p for p in (tmp_path / "reports" / "local").iterdir() if not p.is_symlink()]
        assert 1 <= len(reports) <= 3 and all((p / "junit.xml").is_file() for p in reports), reports
    finally:
        if stopped:
            deployer("up")
        if canary.process.poll() is None:
            canary.stop(timeout=120)
        if local.rules.exists() or local.targets.exists():
            local.remove()


def test_a_hung_check_costs_its_round_the_deadline_and_the_next_round_runs(tmp_path: Path) -> None:
    """The deadline's SIGINT ends pytest's session (its report written); the running check counts as hung."""
    from obs_conformance.canary.rounds import HUNG, PASSED, run_round

    checks = tmp_path / "test_hang.py"
    checks.write_text(
        "import threading\n\n"
        "def test_quick():\n    pass\n\n"
        "def test_hangs():\n    threading.Event().wait(60)  # a backend that never answers\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    args = [str(checks), "-q", "-p", "no:cacheprovider", "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path)]
    started = time.monotonic()
    first = run_round(1, args, deadline=2.0)
    assert 2.0 <= time.monotonic() - started < 20
    assert first.verdict == "deadline", first
    assert first.checks == {"test_hang.py::test_quick": PASSED, "test_hang.py::test_hangs": HUNG}
    # a new module: pytest imports a test module once per process (sys.modules), as the canary's rounds rely on
    after = tmp_path / "test_after.py"
    after.write_text("def test_quick():\n    pass\n")
    second = run_round(2, [str(after), *args[1:]], deadline=30.0)
    assert second.verdict == "passed" and second.checks == {"test_after.py::test_quick": PASSED}, second
