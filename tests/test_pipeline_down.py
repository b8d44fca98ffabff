"""A broken pipeline costs one deadline, not one per check: its first read-back to find nothing
declares it down, the others fail at once naming that one, and the report groups them.

The logic on fake probes (no stack), then for real: a private collector whose log exporter
points at a port where nothing listens, and the log checks run against it.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from obs_conformance.clients.errors import BackendUnreachable, WaitTimeout
from obs_conformance.clients.polling import Observation, Patience
from obs_conformance.fixtures import pipelines
from obs_conformance.fixtures.pipelines import FirstDown, PipelineDown, Pipelines, blamed, for_check, read_back
from obs_conformance.fixtures.report_html import render_html
from obs_conformance.fixtures.reporting import CheckResult, broken_lines, failures_by_component

LOGS = "log store (VictoriaLogs, in Loki's place)"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Pipelines]:
    """A registry of its own, shared through files as xdist workers share theirs."""
    before = pipelines.PIPELINES
    pipelines.PIPELINES = Pipelines(tmp_path / "pipelines")
    yield pipelines.PIPELINES
    pipelines.PIPELINES = before


def _read(check: str, found: list[str], wanted: str, deadline: float = 0.3, sent_at: float | None = None) -> Any:
    def probe() -> Observation[list[str]]:
        return Observation(found, wanted in found, f"{len(found)} record(s): {found}")

    with for_check(check):
        return read_back(
            probe,
            component=LOGS,
            nothing=lambda records: not records,
            patience=Patience(deadline, 0.05),
            sent_at=sent_at,
            expected=f"record {wanted!r}",
            where=f"{LOGS}: GET /query?{wanted}",
        )


def test_first_timeout_on_nothing_declares_the_pipeline_down_and_the_others_fail_at_once(registry: Pipelines) -> None:
    with pytest.raises(FirstDown) as first:
        _read("t.py::test_a", [], "a")
    assert str(first.value).startswith(f"{LOGS}: nothing from this run arrived within 0.3 s (first seen by this check)")
    assert "record 'a' not seen within 0.3s" in str(first.value)

    start = time.monotonic()
    with pytest.raises(PipelineDown) as other:
        _read("t.py::test_b", [], "b", deadline=30)
    assert time.monotonic() - start < 5  # one poll, not its own 30 s
    text = str(other.value)
    assert text.startswith(f"{LOGS}: nothing from this run arrived within 0.3 s; see t.py::test_a")
    assert "record 'b' not seen (failed at once)" in text  # its own expected
    assert f"looked at: {LOGS}: GET /query?b" in text and "last seen: 0 record(s): []" in text
    assert blamed(other.value) == (LOGS, "nothing from this run arrived within 0.3 s")


def test_a_check_whose_data_is_there_passes_even_after_the_pipeline_was_declared_down(registry: Pipelines) -> None:
    with pytest.raises(FirstDown):
        _read("t.py::test_a", [], "a")
    assert _read("t.py::test_b", ["b"], "b").value == ["b"]
    with pytest.raises(WaitTimeout) as later:  # it delivered: a later failure is that check's own
        _read("t.py::test_c", [], "c")
    assert not isinstance(later.value, PipelineDown | FirstDown)


def test_something_wrong_arrived_is_no_pipeline_down(registry: Pipelines) -> None:
    with pytest.raises(WaitTimeout) as wrong:
        _read("t.py::test_a", ["other"], "a")
    assert not isinstance(wrong.value, FirstDown)
    assert registry.down(LOGS) is None


def test_a_declaration_reaches_another_process_through_the_directory(registry: Pipelines) -> None:
    with pytest.raises(FirstDown):
        _read("t.py::test_a", [], "a")
    assert registry.directory is not None
    worker = Pipelines(registry.directory)  # another xdist worker of the same run
    down = worker.down(LOGS)
    assert down is not None and down.check == "t.py::test_a"
    worker.delivered(LOGS)
    assert registry.down(LOGS) is None


def test_the_deadline_counts_from_the_send(registry: Pipelines) -> None:
    start = time.monotonic()
    with pytest.raises(FirstDown, match=r"not seen within 0\.5s of its send \(1 polls\)"):
        _read("t.py::test_a", [], "a", deadline=0.5, sent_at=time.monotonic() - 10)
    assert time.monotonic() - start < 2


def test_an_unreachable_store_is_a_pipeline_down(registry: Pipelines) -> None:
    def probe() -> Observation[list[str]]:
        raise BackendUnreachable(LOGS, "GET http://127.0.0.1:9 failed: connection refused")

    with for_check("t.py::test_a"), pytest.raises(FirstDown, match="unreachable, nothing from this run read back"):
        read_back(
            probe, component=LOGS, nothing=lambda r: not r, patience=Patience(0.3, 0.05), sent_at=None,
            expected="x", where=f"{LOGS}: GET /",
        )  # fmt: skip


def test_the_report_groups_failures_by_the_component_they_blame() -> None:
    verdict = "nothing from this run arrived within 30 s"
    results = [
        CheckResult(
            "s.py::a", "failed", message=f"{LOGS}: {verdict} (first seen by this check)", blames=LOGS, verdict=verdict
        ),
        CheckResult("s.py::b", "failed", message=f"{LOGS}: {verdict}; see s.py::a", blames=LOGS, verdict=verdict),
        CheckResult("s.py::c", "failed", message="Prometheus: targets not up", blames="Prometheus"),
        CheckResult("s.py::d", "passed"),
    ]
    groups = failures_by_component(results)
    assert groups == [
        {"component": LOGS, "verdict": verdict, "first": "s.py::a", "checks": ["s.py::a", "s.py::b"]},
        {"component": "Prometheus", "verdict": "1 check(s) failed", "first": "", "checks": ["s.py::c"]},
    ]
    assert broken_lines(groups)[0] == f"BROKEN {LOGS}: {verdict}; first seen by s.py::a (2 check(s))"
    summary = {
        "env": "local", "target": "local", "run_id": "r", "finished": "now", "verdict": "failed", "signals": {},
        "latency_seconds": {}, "checks": [], "failures_by_component": groups,
    }  # fmt: skip
    page = render_html(summary)
    assert 'id="by-component"' in page and f'data-component="{html.escape(LOGS, quote=True)}"' in page


# --- for real --------------------------------------------------------------------------------------------------


def _collector_config(tmp_path: Path) -> dict[str, Any]:
    from tests.cluster_render import local_collector_config

    return local_collector_config(tmp_path)


LOG_CHECKS = (
    "suites/test_logs.py",
    "suites/test_app_telemetry.py",
    "suites/test_correlation.py::test_trace_log_and_exemplar_join_across_backends",
)


@pytest.mark.stack
@pytest.mark.slow
@pytest.mark.usefixtures("stack")
def test_a_log_exporter_on_a_wrong_port_is_one_verdict_for_every_log_check(tmp_path: Path) -> None:
    from tests.breakage import collector_with, run_suites_with

    collector = _collector_config(tmp_path)
    exporter = collector["exporters"]["otlp_http/logs"]
    exporter["logs_endpoint"] = "http://127.0.0.1:9/insert/opentelemetry/v1/logs"  # the discard port: nobody listens
    with collector_with(collector, tmp_path) as (grpc, http):
        result = run_suites_with(
            tmp_path,
            {"OTLP_GRPC_ENDPOINT": grpc, "OTLP_HTTP_URL": http, "LOG_DEADLINE": "10s"},
            *LOG_CHECKS,
            "-m",
            "logs",
        )
    out = result.stdout
    failed = sorted(line.split(" ")[1] for line in out.splitlines() if line.startswith("FAILED "))
    assert len(failed) >= 5, out[-4000:]  # 2 in test_logs, 3 in test_app_telemetry, the correlation join
    # in the failures' sections: the short summary's FAILED lines repeat a message as far as the width allows
    details = "\n".join(line for line in out.splitlines() if not line.startswith("FAILED "))
    firsts = re.findall(
        rf"{re.escape(LOGS)}: nothing from this run arrived within 10 s \(first seen by this check\)", details
    )
    assert len(firsts) == 1, out[-4000:]
    first = re.search(r"BROKEN .*first seen by (\S+) \((\d+) check\(s\)\)", out)
    assert first is not None, out[-4000:]
    assert first.group(0).startswith(f"BROKEN {LOGS}: nothing from this run arrived within 10 s"), out[-4000:]
    assert int(first.group(2)) == len(failed), out[-4000:]  # one group: every failure blames the log store
    assert out.count("BROKEN ") == 1, out[-4000:]
    assert first.group(1) in failed
    # every other log check failed at once, naming the first, each with its own expected and last seen
    others = re.findall(rf"{re.escape(LOGS)}: nothing from this run arrived within 10 s; see (\S+)", out)
    assert set(others) == {first.group(1)} and len(others) >= len(failed) - 1, out[-4000:]
    assert out.count("not seen (failed at once)") >= len(failed) - 1, out[-4000:]
    assert "passed" in out.splitlines()[-1], out[-2000:]  # the retention check reads the store itself: green


def test_a_refused_collector_costs_one_export_timeout_not_one_per_send(registry: Pipelines) -> None:
    from opentelemetry.sdk._logs.export import LogRecordExportResult

    from obs_conformance.fixtures.otlp_checked import CheckedLogExporter, EmitError

    class Refusing:
        calls = 0

        def export(self, batch: Any) -> LogRecordExportResult:
            Refusing.calls += 1
            return LogRecordExportResult.FAILURE

    where = "OTLP/gRPC 127.0.0.1:9"
    with for_check("t.py::test_a"):
        first = CheckedLogExporter(Refusing(), where)  # type: ignore[arg-type]
        first.export([])
        with pytest.raises(EmitError) as own:
            first.raise_on_failure()
    assert blamed(own.value) == (f"collector ({where})", "refused or unreachable")
    with for_check("t.py::test_b"):
        later = CheckedLogExporter(Refusing(), where)  # type: ignore[arg-type]
        later.export([])
        with pytest.raises(EmitError, match=r"later exports not tried: refused or unreachable, see t\.py::test_a"):
            later.raise_on_failure()
    assert Refusing.calls == 1
