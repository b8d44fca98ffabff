"""The canary's loop: rounds at a fixed period, never two at once, until SIGTERM (or ``rounds``)."""

from __future__ import annotations

import re
import shutil
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from obs_conformance.canary.ledger import SIGNALS, Ledger
from obs_conformance.canary.metrics import CanaryMetrics
from obs_conformance.canary.rounds import PASSED, RoundResult, run_round
from obs_conformance.envconf import Environment

REPORT_DIR_NAME = re.compile(r"^\d{8}T\d{6}-\d+$")  # fixtures/reporting.py's reports/<env>/<stamp>/


@dataclass(frozen=True)
class CanaryOptions:
    env_name: str
    env_dir: Path | None
    every: float
    markexpr: str
    deadline: float
    reports_dir: Path | None  # None: no report files
    history: int = 20
    rounds: int | None = None  # None: until SIGTERM
    ledger_signals: tuple[str, ...] = SIGNALS
    ledger_retries: int = 3
    extra_args: list[str] = field(default_factory=list)

    def pytest_args(self) -> list[str]:
        """One round's pytest command line: the installed suites, never starting a stack, quiet."""
        args = ["--pyargs", "obs_conformance.suites", "--env", self.env_name, "-m", self.markexpr]
        if self.env_dir is not None:
            args += ["--env-dir", str(self.env_dir)]
        args += ["--no-stack-up", "-q", "--no-header", "-p", "no:cacheprovider"]
        args += ["-W", "ignore::pytest.PytestAssertRewriteWarning"]  # see canary/rounds.py
        args += ["--reports-dir", str(self.reports_dir)] if self.reports_dir is not None else ["--no-reports"]
        return args + self.extra_args


class Canary:
    def __init__(self, options: CanaryOptions, env: Environment, metrics: CanaryMetrics) -> None:
        self.options = options
        self.env = env
        self.metrics = metrics
        self.stop = threading.Event()
        self.canary_id = f"canary-{uuid.uuid4().hex[:10]}"
        self.ledger = Ledger(env, metrics, self.canary_id, options.ledger_signals, options.ledger_retries)
        self.ledger_thread: threading.Thread | None = None
        self.consecutive: dict[str, int] = {}
        self.last: RoundResult | None = None
        metrics.round_interval.set(options.every)
        metrics.round_deadline.set(options.deadline)

    def _terminate(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM: the round under way finishes (its report too), then the canary exits 0."""
        self.stop.set()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._terminate)
        number = 0
        next_start = time.monotonic()
        try:
            while not self.stop.is_set():
                number += 1
                result = self.one_round(number)
                if result.interrupted_by_user or (self.options.rounds is not None and number >= self.options.rounds):
                    break
                next_start = max(next_start + self.options.every, time.monotonic())  # a late round is not made up
                self.stop.wait(next_start - time.monotonic())
        except KeyboardInterrupt:
            pass
        return 0

    def one_round(self, number: int) -> RoundResult:
        m = self.metrics
        started = time.monotonic()
        m.round_started.set(time.time())
        if self.ledger_thread is None or not self.ledger_thread.is_alive():  # never two ledger rounds at once
            self.ledger_thread = self.ledger.start()
        result = run_round(number, self.options.pytest_args(), self.options.deadline)
        self.ledger_thread.join(timeout=max(self.options.deadline - (time.monotonic() - started), 0.0))
        self._record(result)
        m.round_duration.set(time.monotonic() - started)
        m.round_finished.set(time.time())
        self.last = result
        self._prune()
        failed = sorted(check for check, outcome in result.checks.items() if outcome != PASSED)
        print(
            f"round {number}: {result.verdict} in {time.monotonic() - started:.1f}s, {len(result.checks)} checks"
            + (f", not passed: {', '.join(failed)}" if failed else "")
            + (f"; report {result.report_dir}" if result.report_dir else ""),
            file=sys.stderr,
            flush=True,
        )
        return result

    def _record(self, result: RoundResult) -> None:
        from obs_conformance.fixtures.stack import reachability

        m = self.metrics
        for check, outcome in result.checks.items():
            passed = outcome == PASSED
            m.check_runs.labels(check).inc()
            m.check_success.labels(check).set(1 if passed else 0)
            if not passed:
                m.check_failures.labels(check).inc()
            self.consecutive[check] = 0 if passed else self.consecutive.get(check, 0) + 1
            m.check_consecutive_failures.labels(check).set(self.consecutive[check])
            if check in result.durations:
                m.check_duration.labels(check).set(result.durations[check])
        m.rounds.labels(result.verdict).inc()
        m.round_success.set(1 if result.verdict == "passed" else 0)
        m.backends(reachability(self.env, timeout=2.0))

    def _prune(self) -> None:
        """Keep the last ``history`` round reports (the canary's reports folder is its own)."""
        if self.options.reports_dir is None:
            return
        folder = self.options.reports_dir / self.env.name
        if not folder.is_dir():
            return
        rounds = sorted(
            p for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and REPORT_DIR_NAME.match(p.name)
        )
        for old in rounds[: max(len(rounds) - self.options.history, 0)]:
            shutil.rmtree(old, ignore_errors=True)
