"""Sends ahead (fixtures/sends_ahead.py) and the fixed shares (fixtures/scheduling.py), in a throwaway suite.

Each check's send happens once, in the process that runs the check, before that process runs
its first check; the check gets what its send returned and the same probe id; a failed send
fails its check (not its setup) with the send's error. Under xdist every worker sends exactly
its own share, and the project's tests collected beside the suites are handed out as usual.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = """
import pytest

pytest_plugins = ("obs_conformance.fixtures.scheduling", "obs_conformance.fixtures.sends_ahead")


@pytest.fixture(scope="session")
def run_id(worker_id):
    return f"run-{worker_id}"


@pytest.fixture(scope="session")
def events(pytestconfig):
    return pytestconfig.rootpath / "events.log"
"""

CHECKS = """
import os
import time

import pytest

from obs_conformance.fixtures.sends_ahead import sends_ahead


def log(path, what, nodeid):
    with open(path, "a") as out:
        out.write(f"{what} {os.getpid()} {time.monotonic():.6f} {nodeid}\\n")


def send(sending):
    log(sending.fixture("events"), "send", sending.item.nodeid)
    if sending.param("n") == 3:
        raise RuntimeError("collector: export refused")
    return (sending.probe_id, sending.param("n"))


@pytest.mark.parametrize("n", range(8))
@sends_ahead(send)
def test_check(request, events, sent, probe_id, n):
    log(events, "run", request.node.nodeid)
    assert sent == (probe_id, n)


def test_without_send(request, events):
    log(events, "run", request.node.nodeid)
"""

PROJECT_TEST = """
def test_project_own(request):
    pass
"""


def events(path: Path) -> list[tuple[str, int, float, str]]:
    rows = [line.split(" ", 3) for line in (path / "events.log").read_text().splitlines()]
    return [(what, int(pid), float(at), nodeid) for what, pid, at, nodeid in rows]


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    (pytester.path / "suites").mkdir()
    (pytester.path / "suites" / "test_checks.py").write_text(CHECKS)
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_own.py").write_text(PROJECT_TEST)
    return pytester


def assert_sent_once_ahead_by_the_runner(log: list[tuple[str, int, float, str]]) -> None:
    sends = [(pid, at, nodeid) for what, pid, at, nodeid in log if what == "send"]
    runs = [(pid, at, nodeid) for what, pid, at, nodeid in log if what == "run"]
    sent_by = {nodeid: pid for pid, _, nodeid in sends}
    assert len(sends) == len(sent_by) == 8, f"each check's send once: {sends}"
    ran_by = {nodeid: pid for pid, _, nodeid in runs if nodeid in sent_by}
    assert len(ran_by) == 7, f"every check but the one whose send failed ran its body: {sorted(ran_by)}"
    assert ran_by == {n: pid for n, pid in sent_by.items() if n in ran_by}, "sent by the process that runs it"
    for pid in set(sent_by.values()):
        last_send = max(at for p, at, _ in sends if p == pid)
        first_run = min(at for p, at, _ in runs if p == pid)
        assert last_send < first_run, f"process {pid}: a check ran before all its process' sends went out"


@pytest.mark.slow  # a pytest run of its own
def test_in_one_process_every_send_goes_before_the_first_check(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "-q", "-rf")
    result.assert_outcomes(passed=9, failed=1)  # one send fails: its check fails, it does not error
    result.stdout.fnmatch_lines(["FAILED suites/test_checks.py::test_check[[]3[]] - RuntimeError: collector: export*"])
    assert_sent_once_ahead_by_the_runner(events(suite.path))


@pytest.mark.slow  # a pytest run of its own
def test_under_xdist_each_worker_sends_exactly_its_share(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "-q", "-rf", "-n", "2")
    result.assert_outcomes(passed=9, failed=1)
    log = events(suite.path)
    assert_sent_once_ahead_by_the_runner(log)
    senders = {pid for what, pid, _, _ in log if what == "send"}
    assert len(senders) == 2, f"both workers have a share with sends: {senders}"
