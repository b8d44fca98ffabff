"""One round: the selected checks, run by ``pytest.main`` in this process, under a deadline.

Running pytest again in one interpreter: every round builds a new config, plugin manager and
session, so options, stashes and the run's report (fixtures/reporting.py: reports/<env>/<timestamp>/)
are the round's own, and so is the run id every check's data carries. What outlives a round is
what the modules keep: test and plugin modules are imported once (``sys.modules``) and registered
again with each round's plugin manager; their module state is caches keyed by what they cache (the
local stack's generated secrets) and the thread pool of second steps (fixtures/sends_ahead.py), which
serve every round alike. The canary imports the plugin's modules before pytest's first round, so
pytest cannot rewrite their asserts and says so with a PytestAssertRewriteWarning, which the
project's ``filterwarnings = error`` would turn into an error: each round ignores that warning
(the suites' own modules are imported by pytest and rewritten as usual).

A round that outlives its deadline is interrupted the way Ctrl-C interrupts pytest: SIGINT to the
main thread, which breaks a blocking read, and pytest ends the session (exit code 2) and writes its
report. The check that was running is counted as hung, a failure.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PASSED, FAILED, HUNG = "passed", "failed", "hung"


@dataclass
class RoundResult:
    number: int
    started: float  # Unix seconds
    finished: float = 0.0
    exit_code: int = 0
    verdict: str = ""
    checks: dict[str, str] = field(default_factory=dict)  # nodeid -> passed | failed | hung (skipped ones absent)
    durations: dict[str, float] = field(default_factory=dict)
    report_dir: Path | None = None
    interrupted_by_user: bool = False


class RoundRecorder:
    """A plugin of one round: each check's outcome, and the check running when the round was cut."""

    def __init__(self, result: RoundResult) -> None:
        self.result = result
        self.running: str | None = None

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.running = nodeid

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        checks = self.result.checks
        if report.failed:
            checks[report.nodeid] = FAILED
        elif report.passed and report.when == "call" and checks.get(report.nodeid) != FAILED:
            checks[report.nodeid] = PASSED
        if report.when == "call":
            self.result.durations[report.nodeid] = report.duration

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self.running = None

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        report = session.config.pluginmanager.get_plugin("obsconf-run-report")
        self.result.report_dir = getattr(report, "run_dir", None)
        if self.running is not None:
            self.result.checks[self.running] = HUNG


class Deadline:
    """SIGINT to the main thread when the round is still running ``seconds`` after it started."""

    def __init__(self, seconds: float) -> None:
        self.fired = threading.Event()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._main = threading.main_thread().ident

    def _fire(self) -> None:
        self.fired.set()
        if self._main is not None:
            signal.pthread_kill(self._main, signal.SIGINT)

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


VERDICTS = {
    int(pytest.ExitCode.OK): "passed",
    int(pytest.ExitCode.TESTS_FAILED): "failed",
    3: "unreachable",  # fixtures/stack.py: pytest.exit(..., returncode=3)
    5: "no checks ran",  # fixtures/reporting.py
}


def run_round(number: int, args: list[str], deadline: float) -> RoundResult:
    """``pytest.main(args)`` once, cut at ``deadline`` seconds; never raises KeyboardInterrupt."""
    result = RoundResult(number, time.time())
    recorder = RoundRecorder(result)
    try:
        with Deadline(deadline) as cut:
            try:
                result.exit_code = int(pytest.main(args, plugins=[recorder]))
            except KeyboardInterrupt:  # the deadline's SIGINT landed between pytest's own handlers
                result.exit_code = int(pytest.ExitCode.INTERRUPTED)
    except KeyboardInterrupt:  # after pytest returned, before the timer was cancelled
        result.exit_code = int(pytest.ExitCode.INTERRUPTED)
    result.finished = time.time()
    if result.exit_code == int(pytest.ExitCode.INTERRUPTED):
        if cut.fired.is_set():
            result.verdict = "deadline"
            if recorder.running is not None:
                result.checks[recorder.running] = HUNG
        else:
            result.verdict, result.interrupted_by_user = "interrupted", True
    else:
        result.verdict = VERDICTS.get(result.exit_code, f"error (exit code {result.exit_code})")
    if any(outcome != PASSED for outcome in result.checks.values()) and result.verdict == "passed":
        result.verdict = "failed"
    return result
