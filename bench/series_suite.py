"""The 1M-series scenario of issue 22 (``python -m bench.run --series-suite K``): what a big Prometheus
head adds to the local suite's metric, rule and dead-rule checks, and to the whole suite's verdict.

A PRIVATE Prometheus 3.5.0 (the pinned build), with a private Alertmanager and Slack mock, runs the
local stack's real configuration: the configs the deployer renders from the chart for an env that
is the local one with only PROMETHEUS_URL, ALERTMANAGER_URL and SLACK_MOCK_URL moved to free ports
(deployer/targets/stack/components.render_configs with operator_config.cluster_config; the same
process specs as ``make stack``). So it scrapes the shared stack's components (collector, exporters,
stores) as the shared Prometheus does, itself and the private Alertmanager, and loads the same rules;
its alerts go to the private Alertmanager, which posts to the private Slack mock only: nothing the
private stack fires reaches the shared Alertmanager or Slack mock, where other runs read theirs.
One scrape job is added: the generator of bench/scale.py (``Generator``, an exposition endpoint of
ours on loopback), every 15 s, serving K gauges spread over metric names of one of two kinds:

- ``unread`` (the default): 1,000 names no rule reads (``bench_synthetic_NNN``), as most of a big
  cluster's series are to its alerts: the head holds K more series, what the suite's own queries
  would pay for scanning them shows;
- ``rules``: the metric names the alerting rules read (their postings grow, as with
  bench/scale.py's coverage figure), except the names Prometheus makes itself (``ALERTS``) and
  those of a source known by its names alone (a ``reloader_`` series would tell the lacked-source
  check that the config-reloader exists, a ``node_bonding_`` one that the host has bonded
  interfaces). Every rule then reads the K series at the local stack's EVALUATION_INTERVAL (1 s).

The suites run with ``--env <that env file> --no-stack-up``: once to warm up (not counted: a young
server's first scrapes and evaluations make the checks wait), then twice with the generator serving
nothing, then twice with K series in the head (polled on ``prometheus_tsdb_head_series``, never
slept for). Each time: the four files of the checks (metric, rule, alerting, dead-rule) in one
process (-n 0, each test's duration by bench/series_plugin.py), then the whole suite (-n auto), its
verdict time. Each figure is the quicker of its two runs (other sessions on this machine only ever
add). Prometheus' query log names the API queries that slowed down; the rule groups' evaluation time
says what the head costs Prometheus' rules, and a trivial request asked every 0.5 s through each
phase (``Responsiveness``) whether the server itself stalls (a query that runs in milliseconds still
waits for a server that has no CPU to answer with). The shared stack is left alone.

Target (issue 22): with 1M active series the metric, rule and dead-rule checks add <= 2 s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from bench.scale import Generator, rule_selectors
from obs_conformance.clients.polling import Observation, wait_for
from obs_conformance.clients.prometheus import PrometheusClient
from obs_conformance.deployer import pins
from obs_conformance.deployer.cluster.operator_config import cluster_config
from obs_conformance.deployer.engine.layout import Layout
from obs_conformance.deployer.engine.processes import ProcessManager, ProcessSpec, probe_ready
from obs_conformance.deployer.targets.stack.components import Binaries, process_specs, render_configs
from obs_conformance.deployer.toolchain import gobuild
from obs_conformance.envconf import load_environment
from obs_conformance.envconf.environment import ENVIRONMENTS_DIR
from obs_conformance.envconf.metric_sources import CONDITIONAL, SOURCES
from tests.breakage import free_port
from tests.cluster_render import CHARTS

ROOT = Path(__file__).resolve().parent.parent
CHECKS = ("suites/test_metrics.py", "suites/test_rules.py", "suites/test_alerting.py", "suites/test_rule_coverage.py")
TARGET_ADDED = 2.0
GENERATOR_JOB = "bench-synthetic"
PRIVATE = ("slack-mock", "alertmanager", "prometheus")  # start order
MADE_BY_PROMETHEUS = ("ALERTS", "ALERTS_FOR_STATE")


@dataclass(frozen=True)
class PrivateStack:
    """The private Prometheus, Alertmanager and Slack mock, and the env file that points the suites at them."""

    env_file: Path
    prometheus: PrometheusClient
    query_log: Path


def _env_file(home: Path, overrides: dict[str, str]) -> Path:
    """The local env with ``overrides``; every other value (the shared stack's addresses) as it is."""
    lines = (ENVIRONMENTS_DIR / "local" / "local.env").read_text().splitlines()
    replaced = [f'{line.split("=", 1)[0]}="{overrides[line.split("=", 1)[0]]}"' if line.split("=", 1)[0] in overrides
                else line for line in lines]  # fmt: skip
    path = home / "series.env"
    path.write_text("\n".join(replaced) + "\n")
    return path


def _prometheus_config(text: str, generator_port: int, query_log: Path) -> str:
    """The rendered config plus the generator's job (15 s: a scrape of 1M series takes seconds) and a query log."""
    config = yaml.safe_load(text)
    config["global"]["query_log_file"] = str(query_log)
    config["scrape_configs"].append(
        {
            "job_name": GENERATOR_JOB,
            "scrape_interval": "15s",
            "scrape_timeout": "15s",
            "static_configs": [{"targets": [f"127.0.0.1:{generator_port}"]}],
        }
    )
    return str(yaml.safe_dump(config, sort_keys=False))


def _start(manager: ProcessManager, spec: ProcessSpec) -> None:
    manager.start(spec)

    def ready() -> Observation[str]:
        if manager.pid(spec.name) is None:
            raise RuntimeError(f"{spec.name} exited: {manager.log_path(spec.name).read_text()[-1500:]}")
        ok, seen = probe_ready(spec)
        return Observation(seen, ok, seen)

    wait_for(ready, deadline=60, expected=f"{spec.name} ready", where=spec.where)


@contextlib.contextmanager
def private_stack(home: Path, generator_port: int) -> Iterator[PrivateStack]:
    """Prometheus, Alertmanager and the Slack mock of the local stack's rendered config, on free ports."""
    urls = {key: f"http://127.0.0.1:{free_port()}" for key in ("PROMETHEUS_URL", "ALERTMANAGER_URL", "SLACK_MOCK_URL")}
    env_file = _env_file(home, urls)
    env = load_environment(str(env_file), environ={})
    layout = Layout(home / "state")
    layout.create()
    hook = layout.secrets / "slack_webhook_url"
    hook.write_text(f"{urls['SLACK_MOCK_URL']}/services/T0BENCH/B0SERIES/{secrets.token_hex(12)}\n")
    hook.chmod(0o600)
    query_log = home / "queries.jsonl"
    for rendered in render_configs(env, layout, hook, cluster_config(env, CHARTS)):
        rendered.path.parent.mkdir(parents=True, exist_ok=True)
        text = rendered.text
        if rendered.path.name == "prometheus.yml":
            text = _prometheus_config(text, generator_port, query_log)
        rendered.path.write_text(text)
    bins = dataclasses.replace(
        Binaries.unbuilt(),
        prometheus=str(gobuild.build_source_module(pins.PROMETHEUS)),
        alertmanager=str(gobuild.go_install(pins.ALERTMANAGER)),
    )
    specs = {spec.name: spec for spec in process_specs(env, layout, bins, "", None)}
    manager = ProcessManager(layout)
    started: list[str] = []
    try:
        for name in PRIVATE:
            _start(manager, specs[name])
            started.append(name)
        yield PrivateStack(env_file, PrometheusClient(urls["PROMETHEUS_URL"], 60.0), query_log)
    finally:
        for name in reversed(started):
            manager.stop(name, deadline=60, stop_signal=specs[name].stop_signal)


UNREAD = [f"bench_synthetic_{i:03d}" for i in range(1000)]  # 1,000 names no rule reads: 1,000 series each at 1M


def generated_metrics(prometheus: PrometheusClient, names: str) -> list[str]:
    """The alerting rules' metric names the generator may serve without changing a check's verdict:
    not those of a source known by its names alone (the config-reloader, node-exporter's bonding or RAID
    series), whose mere presence the coverage checks read as the source being there. ``names="unread"``:
    names no rule reads instead (``UNREAD``)."""
    if names == "unread":
        return UNREAD
    by_names_alone = [source for source in (*SOURCES, *(c.source for c in CONDITIONAL)) if not source.jobs]
    read = {s.metric for s in rule_selectors(prometheus) if s.metric}
    return sorted(
        name
        for name in read
        if name not in MADE_BY_PROMETHEUS and not any(source.exports(name) for source in by_names_alone)
    )


def head_series(prometheus: PrometheusClient) -> int:
    """``prometheus_tsdb_head_series`` of the private Prometheus' own scrape (0 before its first)."""
    samples = prometheus.query('prometheus_tsdb_head_series{job="prom-stack-kube-prometheus-prometheus"}')
    return int(samples[0].value) if samples else 0


def wait_head(prometheus: PrometheusClient, at_least: int, deadline: float) -> tuple[int, float]:
    started = time.monotonic()

    def probe() -> Observation[int]:
        n = head_series(prometheus)
        return Observation(n, n >= at_least, f"prometheus_tsdb_head_series {n}")

    seen = wait_for(
        probe, expected=f"prometheus_tsdb_head_series >= {at_least}", where=prometheus.url("/api/v1/query"),
        deadline=deadline, max_interval=1.0,
    )  # fmt: skip
    return seen.value, time.monotonic() - started


@dataclass(frozen=True)
class Pytest:
    """One pytest run: wall time, summary line, each test's duration and outcome."""

    seconds: float
    summary: str
    tests: dict[str, float]
    outcomes: dict[str, str]

    def by_file(self) -> dict[str, float]:
        found: dict[str, float] = {}
        for nodeid, seconds in self.tests.items():
            found[nodeid.split("::")[0]] = found.get(nodeid.split("::")[0], 0.0) + seconds
        return found


def run_pytest(env_file: Path, home: Path, *selection: str) -> Pytest:
    out = home / "tests.json"
    out.unlink(missing_ok=True)
    argv = [
        sys.executable, "-m", "pytest", *selection, "--env", str(env_file), "--no-stack-up", "-q", "--no-reports",
        "-p", "no:cacheprovider", "-p", "bench.series_plugin",
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(
        argv, cwd=ROOT, env={**os.environ, "OBSCONF_BENCH_SERIES_OUT": str(out), "COLUMNS": "400"},
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - started
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else done.stderr.strip()[-300:]
    figures: dict[str, Any] = json.loads(out.read_text()) if out.is_file() else {}
    for line in lines:
        if line.startswith(("FAILED", "ERROR")):
            print(f"      {line[:220]}", flush=True)
    return Pytest(seconds, summary, figures.get("seconds", {}), figures.get("outcomes", {}))


@dataclass(frozen=True)
class Phase:
    """The suites against the private stack with ``series`` synthetic series served, ``repeat`` times each."""

    series: int
    head: int
    rule_evaluation: float  # seconds per cycle, summed over the rule groups
    checks: list[Pytest]
    whole: list[Pytest]
    queries: list[dict[str, Any]]
    answers: list[float]  # seconds Prometheus took to answer a trivial request, every 0.5 s of the phase

    @staticmethod
    def best(runs: list[Pytest]) -> Pytest:
        """The quickest run: other sessions' load on this machine only ever adds to a figure."""
        return min(runs, key=lambda run: run.seconds)

    def shown(self, runs: list[Pytest]) -> str:
        return f"{self.best(runs).seconds:.2f}s ({', '.join(f'{r.seconds:.2f}' for r in runs)})"


def rule_evaluation_seconds(prometheus: PrometheusClient) -> float:
    return sum(float(g.get("evaluationTime", 0.0)) for g in prometheus.rule_groups())


def api_queries(log: Path, offset: int) -> list[dict[str, Any]]:
    """The query log's API queries (not rule evaluations) written after ``offset``."""
    entries = []
    with log.open() as f:
        f.seek(offset)
        for line in f:
            entry = json.loads(line)
            if "httpRequest" in entry:
                entries.append(entry)
    return entries


def run_checks(stack: PrivateStack, home: Path) -> Pytest:
    checks = run_pytest(stack.env_file, home, *CHECKS, "-n", "0")
    print(f"    checks ({len(CHECKS)} files, -n 0): {checks.seconds:.2f}s ({checks.summary})", flush=True)
    return checks


def run_whole(stack: PrivateStack, home: Path) -> Pytest:
    whole = run_pytest(stack.env_file, home, "suites", "-n", "auto")
    print(f"    whole suite (-n auto): {whole.seconds:.2f}s ({whole.summary})", flush=True)
    return whole


class Responsiveness:
    """How long Prometheus takes to answer a request that costs it nothing (``/api/v1/status/buildinfo``),
    asked every 0.5 s in a thread while the suites run: a stall there is the server's (scrapes, GC, the
    machine), not a query's."""

    def __init__(self, prometheus: PrometheusClient) -> None:
        self.url = prometheus.url("/api/v1/status/buildinfo")
        self.seconds: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.5):
            started = time.monotonic()
            with contextlib.suppress(requests.RequestException):  # a failure counts as the time it took
                requests.get(self.url, timeout=60)
            self.seconds.append(time.monotonic() - started)

    def done(self) -> list[float]:
        self.stop.set()
        self.thread.join()
        return self.seconds


def phase(stack: PrivateStack, series: int, repeat: int, home: Path) -> Phase:
    head = head_series(stack.prometheus)
    evaluation = rule_evaluation_seconds(stack.prometheus)
    offset = stack.query_log.stat().st_size if stack.query_log.is_file() else 0
    checks: list[Pytest] = []
    whole: list[Pytest] = []
    answers = Responsiveness(stack.prometheus)
    for _ in range(repeat):
        checks.append(run_checks(stack, home))
        whole.append(run_whole(stack, home))
    return Phase(series, head, evaluation, checks, whole, api_queries(stack.query_log, offset), answers.done())


def measure(series: int, repeat: int, names: str) -> tuple[Phase, Phase]:
    generator = Generator()
    try:
        with tempfile.TemporaryDirectory(prefix="obsconf-series-suite-") as tmp:
            home = Path(tmp)
            with private_stack(home, generator.port) as stack:
                wait_head(stack.prometheus, 1, deadline=60)  # its own first scrape
                metrics = generated_metrics(stack.prometheus, names)
                print(
                    f"  private stack up ({stack.prometheus.base_url}); the generator serves {len(metrics)} {names} names"
                )
                print("  warm-up (not counted: a young server's first evaluations and scrapes)")
                run_checks(stack, home)
                print("  without synthetic series")
                base = phase(stack, 0, repeat, home)
                generator.serve(metrics, series)
                head, loaded = wait_head(stack.prometheus, base.head + series, deadline=600)
                print(f"  {series} series served: prometheus_tsdb_head_series {head} after {loaded:.0f}s", flush=True)
                return base, phase(stack, series, repeat, home)
    finally:
        generator.server.shutdown()


def _slowest_queries(phase: Phase, top: int) -> list[tuple[float, str, str]]:
    """(seconds, query, endpoint) of the slowest API queries of the phase."""
    found = []
    for entry in phase.queries:
        seconds = float(entry.get("stats", {}).get("timings", {}).get("execTotalTime", 0.0))
        found.append((seconds, str(entry["params"].get("query", "")), str(entry["httpRequest"].get("path", ""))))
    return sorted(found, reverse=True)[:top]


def report(base: Phase, loaded: Phase, names: str) -> list[tuple[str, bool, str]]:
    """Print both phases' figures; (target, met, figure) per judged figure."""
    load = os.getloadavg()
    print(f"\n{loaded.series} series ({names} names) on a private Prometheus 3.5.0 with the local stack's config; "
          f"{os.cpu_count()} cores, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")  # fmt: skip
    print("(best of the runs, each run in brackets)")
    for p in (base, loaded):
        print(f"  {p.series:>8} served, head {p.head}, rule evaluation {p.rule_evaluation:.3f}s per cycle: "
              f"checks -n 0 {p.shown(p.checks)}, whole suite -n auto {p.shown(p.whole)}; "
              f"{Phase.best(p.checks).summary} / {Phase.best(p.whole).summary}")  # fmt: skip
    for p in (base, loaded):
        slow = sum(1 for a in p.answers if a > 1.0)
        print(f"  {p.series:>8} served: a trivial request answered in median {statistics.median(p.answers):.3f}s, "
              f"max {max(p.answers):.2f}s; {slow} of {len(p.answers)} over 1 s")  # fmt: skip
    base_checks, loaded_checks = Phase.best(base.checks), Phase.best(loaded.checks)
    print("  per file (the quickest checks run, summed test durations):")
    before, after = base_checks.by_file(), loaded_checks.by_file()
    for name in sorted(after):
        print(
            f"    {name}: {before.get(name, 0.0):.2f}s -> {after[name]:.2f}s ({after[name] - before.get(name, 0.0):+.2f}s)"
        )
    slower = sorted(((s - base_checks.tests.get(t, 0.0), t) for t, s in loaded_checks.tests.items()), reverse=True)[:5]
    print("  tests slowed most: " + "; ".join(f"{t.split('/')[-1]} {d:+.2f}s" for d, t in slower))
    print(f"  slowest API queries with {loaded.series} series (query log, execTotalTime):")
    for seconds, query, path in _slowest_queries(loaded, 5):
        print(f"    {seconds:.3f}s {path} {query[:160]}")
    base_whole, loaded_whole = Phase.best(base.whole), Phase.best(loaded.whole)
    changed = [t for t, o in loaded_whole.outcomes.items() if base_whole.outcomes.get(t) != o]
    if changed:
        print(
            f"  verdicts that changed with the series: {', '.join(f'{t} -> {loaded_whole.outcomes[t]}' for t in changed)}"
        )
    checks_added = loaded_checks.seconds - base_checks.seconds
    whole_added = loaded_whole.seconds - base_whole.seconds
    return [
        (f"{loaded.series} series: the metric, rule and dead-rule checks add <= {TARGET_ADDED:g}s",
         checks_added <= TARGET_ADDED, f"{base_checks.seconds:.2f}s -> {loaded_checks.seconds:.2f}s: {checks_added:+.2f}s"),
        (f"{loaded.series} series: the whole local suite's verdict adds <= {TARGET_ADDED:g}s",
         whole_added <= TARGET_ADDED, f"{base_whole.seconds:.2f}s -> {loaded_whole.seconds:.2f}s: {whole_added:+.2f}s"),
    ]  # fmt: skip


def main(series: int, names: str = "unread", repeat: int = 2) -> int:
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores; load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    base, loaded = measure(series, repeat, names)
    for target, met, figure in report(base, loaded, names):
        print(f"  {'PASS' if met else 'MISS'}  {target}: {figure}")
    return 0
