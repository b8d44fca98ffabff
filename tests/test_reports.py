"""Reports: summary.json and report.html carry verdicts, latencies and failure details, never secrets;
a real run writes all three files; headless Chromium renders the charts."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from obs_conformance.deployer import pins
from obs_conformance.envconf import load_environment
from obs_conformance.fixtures.report_html import prometheus_links, render_html
from obs_conformance.fixtures.reporting import EXIT_NO_CHECKS_RAN, CheckResult, NotRun, summarize, verdict_of

ROOT = Path(__file__).resolve().parent.parent
SECRET = "s3cr3t-hook-token-0042"


def sample_summary() -> dict[str, Any]:
    env = load_environment("local", environ={"SLACK_WEBHOOK_URL": f"http://127.0.0.1:1/services/T/B/{SECRET}"})
    message = (
        'WaitTimeout: conformance_probe_total{probe_id="x"} = 7 not seen within 30s\n'
        '  looked at: Prometheus: GET http://127.0.0.1:19090/api/v1/query?query=conformance_probe_total{probe_id="x"}\n'
        f"  last seen: empty vector; webhook http://127.0.0.1:1/services/T/B/{SECRET}"
    )
    results = [
        CheckResult("suites/test_traces.py::test_a", "passed", 0.4, ["traces"], 0.12),
        CheckResult("suites/test_traces.py::test_b", "passed", 0.5, ["traces"], 0.30),
        CheckResult("suites/test_metrics.py::test_c", "failed", 30.1, ["metrics"], None, env.mask(message)),
        CheckResult("suites/test_k8s.py::test_d", "skipped", 0.0, ["k8s"], None, "needs a cluster"),
    ]
    summary: dict[str, Any] = json.loads(json.dumps(summarize(env, results, "abc123", {"Prometheus": "2.42.0"})))
    return summary


def test_summary_counts_verdicts_and_latencies() -> None:
    summary = sample_summary()
    assert summary["verdict"] == "failed"
    assert summary["signals"] == {
        "traces": {"passed": 2, "failed": 0, "error": 0, "skipped": 0},
        "metrics": {"passed": 0, "failed": 1, "error": 0, "skipped": 0},
        "k8s": {"passed": 0, "failed": 0, "error": 0, "skipped": 1},
    }
    assert summary["latency_seconds"] == {"traces": {"count": 2, "p50": 0.21, "max": 0.3}}
    assert SECRET not in json.dumps(summary)


def test_html_shows_tiles_chart_failure_and_prometheus_link() -> None:
    page = render_html(sample_summary())
    assert 'id="verdict">FAILED<' in page
    assert 'class="tile failed" data-signal="metrics"' in page and 'class="tile passed" data-signal="traces"' in page
    assert 'class="p50" data-signal="traces"' in page
    assert "http://127.0.0.1:19090/graph?g0.expr=conformance_probe_total%7Bprobe_id%3D%22x%22%7D" in page
    assert SECRET not in page


def test_a_run_where_nothing_passed_or_failed_is_no_checks_ran() -> None:
    skipped = CheckResult("suites/test_k8s.py::test_d", "skipped", 0.0, ["k8s"], None, "needs a cluster")
    assert verdict_of([]) == "no checks ran"
    assert verdict_of([skipped]) == "no checks ran"
    assert verdict_of([skipped, CheckResult("t::a")]) == "passed"
    assert verdict_of([CheckResult("t::a"), CheckResult("t::b", "error")]) == "failed"


def test_report_first_screen_says_what_did_not_run_and_why() -> None:
    env = load_environment("local", environ={})
    results = [
        CheckResult("suites/test_k8s_tls.py::test_x", "skipped", 0.0, ["k8s"], None, "Skipped: needs a cluster"),
        CheckResult("suites/test_k8s_tls.py::test_y", "skipped", 0.0, ["k8s"], None, "Skipped: needs a cluster"),
    ]
    not_run = NotRun(["suites/test_logs.py::test_a"], "-m 'k8s'", 2)
    summary = json.loads(json.dumps(summarize(env, results, "abc", {}, not_run)))
    assert summary["verdict"] == "no checks ran"
    assert summary["counts"] == {"passed": 0, "failed": 0, "error": 0, "skipped": 2}
    assert summary["not_run"]["skipped"] == [
        {"reason": "Skipped: needs a cluster", "checks": [r.nodeid for r in results]}
    ]
    assert summary["not_run"]["deselected"] == {"count": 1, "by": "-m 'k8s'", "checks": ["suites/test_logs.py::test_a"]}
    page = render_html(summary)
    first_screen = page[: page.index("<h2>Signals and components</h2>")]
    assert 'id="verdict">NO CHECKS RAN<' in first_screen and "PASSED" not in first_screen
    assert 'id="nothing-ran"' in first_screen
    assert "2 skipped: Skipped: needs a cluster" in first_screen
    assert "1 deselected by <code>-m &#x27;k8s&#x27;</code>" in first_screen


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pytest", *args, "--env", "local", "--no-stack-up", "--reports-dir", str(tmp_path)]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)


def _summary(tmp_path: Path) -> dict[str, Any]:
    [run_dir] = [p for p in (tmp_path / "local").iterdir() if p.name != "latest"]
    summary: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
    return summary


@pytest.mark.slow  # a pytest run of its own
@pytest.mark.parametrize("parallel", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_everything_skipped_exits_5_with_its_reasons(tmp_path: Path, parallel: list[str]) -> None:
    """The k8s checks on the local env all skip (no cluster): that run must not be a green gate."""
    result = _run(tmp_path, "suites/test_k8s_workloads.py", *parallel)
    assert result.returncode == EXIT_NO_CHECKS_RAN, result.stdout[-3000:]
    assert "NO CHECKS RAN (exit code 5)" in result.stdout
    assert "skipped: Skipped: needs a Kubernetes cluster" in result.stdout, result.stdout[-3000:]
    summary = _summary(tmp_path)
    assert summary["verdict"] == "no checks ran" and summary["counts"]["passed"] == 0
    assert summary["not_run"]["skipped"][0]["reason"].startswith("Skipped: needs a Kubernetes cluster")


@pytest.mark.slow  # a pytest run of its own
@pytest.mark.parametrize("parallel", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_everything_deselected_exits_5_naming_the_selection(tmp_path: Path, parallel: list[str]) -> None:
    result = _run(tmp_path, "suites/test_k8s_workloads.py", "-m", "smoke", *parallel)
    assert result.returncode == EXIT_NO_CHECKS_RAN, result.stdout[-3000:]
    assert "check(s) deselected by -m 'smoke'" in result.stdout, result.stdout[-3000:]
    deselected = _summary(tmp_path)["not_run"]["deselected"]
    assert deselected["by"] == "-m 'smoke'" and deselected["count"] >= 5
    assert "suites/test_k8s_workloads.py::test_every_pod_ready_and_not_restarting" in deselected["checks"]


@pytest.mark.slow  # a pytest run of its own
def test_unreachable_stack_is_an_incomplete_run_not_a_verdict(tmp_path: Path) -> None:
    """Exit 3 (nothing answers): whatever ran before it, the report must not read PASSED."""
    from obs_conformance.envconf.environment import ENVIRONMENTS_DIR
    from tests.breakage import free_port

    text = (ENVIRONMENTS_DIR / "local" / "local.env").read_text()
    for key in ("PROMETHEUS_URL", "ALERTMANAGER_URL", "LOGS_URL", "TRACES_URL"):
        line = next(x for x in text.splitlines() if x.startswith(f"{key}="))
        text = text.replace(line, f'{key}="http://127.0.0.1:{free_port()}"')
    env_file = tmp_path / "dead.env"
    env_file.write_text(text)
    argv = [sys.executable, "-m", "pytest", "suites/test_metrics.py", "--env", str(env_file), "--no-stack-up",
            "--reports-dir", str(tmp_path / "reports")]  # fmt: skip
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 3, result.stdout[-3000:]
    [run_dir] = [p for p in (tmp_path / "reports").glob("*/*") if p.name != "latest"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["verdict"], summary["exit_code"]) == ("incomplete (exit code 3)", 3)
    assert 'id="verdict">INCOMPLETE (EXIT CODE 3)<' in (run_dir / "report.html").read_text()


def test_prometheus_links_from_messages() -> None:
    links = prometheus_links("looked at: Prometheus: GET https://prom.example/api/v1/query?query=up == 0\n")
    assert links == [("up == 0", "https://prom.example/graph?g0.expr=up%20%3D%3D%200&g0.tab=1")]


@pytest.mark.stack
@pytest.mark.usefixtures("stack")
def test_real_run_writes_junit_summary_and_html(tmp_path: Path) -> None:
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "suites",
        "-m",
        "smoke",
        "--env",
        "local",
        "--no-stack-up",
        "--reports-dir",
        str(tmp_path),
        "-q",
    ]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stdout[-3000:]
    [run_dir] = [p for p in (tmp_path / "local").iterdir() if p.name != "latest"]
    assert {p.name for p in run_dir.iterdir()} == {"junit.xml", "summary.json", "report.html"}
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["verdict"] == "passed" and summary["env"] == "local"
    assert {"traces", "logs", "metrics", "alerting"} <= set(summary["latency_seconds"])
    assert "testcase" in (run_dir / "junit.xml").read_text()
    assert summary["versions"]["Prometheus"] == pins.PROMETHEUS_VERSION


@pytest.mark.stack
@pytest.mark.usefixtures("stack")
def test_push_results_reach_prometheus(tmp_path: Path) -> None:
    from obs_conformance.clients import registry
    from obs_conformance.clients.polling import Patience
    from obs_conformance.fixtures.readback import read_promql

    argv = [sys.executable, "-m", "pytest", "suites/test_traces.py", "-k", "by_trace_id", "--env", "local", "--no-stack-up",
            "--reports-dir", str(tmp_path), "--push-results", "-q"]  # fmt: skip
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stdout[-2000:]
    env = load_environment("local", environ={})
    promql = 'conformance_run_checks{env="local", signal="traces", outcome="passed"}'
    read_promql(
        registry.prometheus(env), promql, lambda s: any(x.value >= 1 for x in s), Patience(30, 0.2), "pushed verdicts"
    )


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed (make test installs it)")
    return found


def _headless(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--window-size=1100,1400",
    ]  # fmt: skip
    return subprocess.run([chromium, *flags, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow  # headless Chromium
def test_chromium_renders_the_latency_chart(tmp_path: Path) -> None:
    chromium = _chromium()
    from PIL import Image

    page = tmp_path / "report.html"
    page.write_text(render_html(sample_summary()))
    shot = tmp_path / "shot.png"
    # one load of the page: its DOM on stdout and its screenshot
    done = _headless(chromium, tmp_path / "profile", "--dump-dom", f"--screenshot={shot}", page.as_uri())
    dom = done.stdout
    assert dom.count('class="p50"') == 1, f"chromium's DOM: {dom[-2000:]}{done.stderr[-2000:]}"
    assert 'aria-label="send-to-visible latency per signal"' in dom, dom[-2000:]
    assert shot.is_file(), f"chromium wrote no screenshot: {done.stderr[-2000:]}"
    image = Image.open(shot).convert("RGB")
    colors = image.getcolors(maxcolors=1 << 20) or []
    by_color = {rgb: count for count, rgb in colors}
    assert by_color.get((0x15, 0x65, 0xC0), 0) > 500, "the p50 latency bar (#1565c0) is not visible in the screenshot"
    assert by_color.get((0xC6, 0x28, 0x28), 0) > 500, "the failed tile (#c62828) is not visible in the screenshot"
