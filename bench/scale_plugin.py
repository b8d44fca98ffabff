"""A pytest plugin for ``bench/scale.py`` (``-p bench.scale_plugin``): at the end of the session it
writes, as JSON to the file ``OBSCONF_BENCH_SCALE_OUT`` names, the Kubernetes API requests the
session made (``KubernetesClient.calls``), the process' own peak RSS, and the summed duration of
each test file's calls (setup, call and teardown) and its failures.

The peak RSS is the kernel's ``VmHWM`` of this process' address space (/proc/self/status), not
``getrusage``'s ``ru_maxrss``: Linux carries ``ru_maxrss`` across fork and exec, so a pytest started
by the bench reported the bench's own peak (290 MiB at N=100, the bench having listed 10,000 pods),
not its own."""

from __future__ import annotations

import json
import os
import resource
from collections import defaultdict
from pathlib import Path

import pytest

from obs_conformance.clients.kubernetes import KubernetesClient

_durations: defaultdict[str, float] = defaultdict(float)
_failed: defaultdict[str, int] = defaultdict(int)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _durations[report.nodeid.split("::")[0]] += report.duration
    if report.failed:
        _failed[report.nodeid.split("::")[0]] += 1


def peak_rss_kib() -> int:
    """This process' peak resident memory since it was exec'd, in KiB (ru_maxrss where no /proc)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux; includes the parent's peak


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get("OBSCONF_BENCH_SCALE_OUT")
    if not out:
        return
    figures = {
        "api_calls": KubernetesClient.calls,
        "peak_rss_kib": peak_rss_kib(),
        "seconds_by_file": dict(_durations),
        "failed_by_file": dict(_failed),
    }
    Path(out).write_text(json.dumps(figures))
