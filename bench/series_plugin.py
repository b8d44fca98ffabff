"""A pytest plugin for ``bench/series_suite.py`` (``-p bench.series_plugin``): at the end of the session
it writes, as JSON to the file ``OBSCONF_BENCH_SERIES_OUT`` names, each test's summed duration (setup,
call and teardown) and outcome, so the bench can say which check a big Prometheus head slows down."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

_durations: defaultdict[str, float] = defaultdict(float)
_outcomes: dict[str, str] = {}
_RANK = ("passed", "skipped", "failed")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _durations[report.nodeid] += report.duration
    # the worst of its setup, call and teardown: a failed setup or a skip is the test's outcome
    seen = _outcomes.get(report.nodeid, "passed")
    _outcomes[report.nodeid] = max(seen, report.outcome, key=_RANK.index)


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get("OBSCONF_BENCH_SERIES_OUT")
    if out:
        Path(out).write_text(json.dumps({"seconds": dict(_durations), "outcomes": _outcomes}))
