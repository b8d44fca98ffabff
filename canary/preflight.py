"""Before the first round: the stack answers, and the selection collects at least one check."""

from __future__ import annotations

import contextlib
import io
import sys

import pytest

from obs_conformance.canary.errors import CanaryUsageError
from obs_conformance.canary.loop import CanaryOptions
from obs_conformance.envconf import Environment


def reachable_or_exit(env: Environment) -> str | None:
    """None if some backend answers; else the one line printed (the canary then exits 3, as the suites do)."""
    from obs_conformance.fixtures.stack import reachability

    seen = reachability(env, timeout=env.duration("HTTP_TIMEOUT").seconds)
    if not all(v.startswith("UNREACHABLE") for v in seen.values()):
        return None
    line = f"obs-conformance: stack of env {env.name!r} is unreachable: " + "; ".join(
        f"{k}: {v}" for k, v in seen.items()
    )
    print(line, file=sys.stderr)
    return line


class _Collected:
    def __init__(self) -> None:
        self.count = 0

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.count = len(session.items)


def selected_checks(options: CanaryOptions) -> int:
    """How many checks a round runs (a collection only, in this process: it also imports them once)."""
    collected = _Collected()
    args = [a for a in options.pytest_args() if a not in {"-q"}] + ["--collect-only", "--no-reports"]
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):  # a collection says "no checks ran"; only its failure is news
        code = pytest.main(args, plugins=[collected])
    if code not in {0, 5}:
        said = " ".join(line.strip() for line in shown.getvalue().splitlines() if "rror" in line)[:500]
        raise CanaryUsageError(f"the suites do not collect with these options (pytest exit code {int(code)}): {said}")
    return collected.count
