"""The local stack's Prometheus and Alertmanager are the clusters' versions, and take the stack's config.

Private instances on free loopback ports, started with exactly the argv and rendered
configs of the stack's process specs (only the listen addresses differ), from the
project's own builds: the shared stack is never touched.
"""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from obs_conformance.deployer import pins
from obs_conformance.deployer.cluster.operator_config import cluster_config
from obs_conformance.deployer.engine.layout import Layout
from obs_conformance.deployer.engine.processes import ProcessSpec, probe_ready
from obs_conformance.deployer.targets.stack.components import Binaries, process_specs, render_configs
from obs_conformance.deployer.toolchain import gobuild
from obs_conformance.envconf import Environment, load_environment
from tests.cluster_render import CHARTS

DEADLINE = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> tuple[Environment, Layout, dict[str, ProcessSpec]]:
    """The stack's specs for Prometheus and Alertmanager, moved to free ports and a private layout."""
    env = load_environment("local", environ={})
    moved = {key: f"http://127.0.0.1:{free_port()}" for key in ("PROMETHEUS_URL", "ALERTMANAGER_URL")}
    env = dataclasses.replace(env, values={**env.values, **moved})
    layout = Layout(tmp_path_factory.mktemp("versions"))
    layout.create()
    hook = layout.secrets / "slack_webhook_url"
    hook.write_text(f"{env.text('SLACK_MOCK_URL')}/services/T0/B0/versions\n")
    for config in render_configs(env, layout, hook, cluster_config(env, CHARTS)):
        config.write()
    bins = dataclasses.replace(
        Binaries.unbuilt(),
        prometheus=str(gobuild.build_source_module(pins.PROMETHEUS)),
        alertmanager=str(gobuild.go_install(pins.ALERTMANAGER)),
    )
    specs = {spec.name: spec for spec in process_specs(env, layout, bins, "postgresql://unused", None)}
    return env, layout, specs


@contextmanager
def started(spec: ProcessSpec, layout: Layout) -> Iterator[str]:
    """Run ``spec``; yield what its readiness probe saw once ready."""
    log = layout.logs / f"{spec.name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(list(spec.argv), stdout=out, stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + DEADLINE
        pause, seen = 0.02, "nothing"
        while time.monotonic() < end and process.poll() is None:
            ready, seen = probe_ready(spec)
            if ready:
                break
            threading.Event().wait(pause)
            pause = min(pause * 1.5, 0.5)
        else:
            pytest.fail(
                f"{spec.name} ({spec.argv[0]}) not ready within {DEADLINE:g}s; last seen {seen}:\n{log.read_text()[-2000:]}"
            )
        yield seen
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_prometheus_is_the_charts_version_with_the_stacks_flags(
    private: tuple[Environment, Layout, dict[str, ProcessSpec]],
) -> None:
    env, layout, specs = private
    with started(specs["prometheus"], layout) as seen:
        assert seen == f"HTTP 200, version {pins.PROMETHEUS_VERSION}"
        flags = requests.get(f"{env.text('PROMETHEUS_URL')}/api/v1/status/flags", timeout=5).json()["data"]
        config = requests.get(f"{env.text('PROMETHEUS_URL')}/api/v1/status/config", timeout=5).json()["data"]["yaml"]
    assert "exemplar-storage" in flags["enable-feature"], flags["enable-feature"]
    assert flags["web.enable-remote-write-receiver"] == "true"
    assert "metric_name_validation_scheme: utf8" in config, "Prometheus 3's default, as on the clusters"


def test_alertmanager_is_the_charts_version_with_the_stacks_routes(
    private: tuple[Environment, Layout, dict[str, ProcessSpec]],
) -> None:
    env, layout, specs = private
    with started(specs["alertmanager"], layout) as seen:
        assert seen == f"HTTP 200, version {pins.ALERTMANAGER_VERSION}"
        status = requests.get(f"{env.text('ALERTMANAGER_URL')}/api/v2/status", timeout=5).json()
    original = status["config"]["original"]
    assert 'alertname = "Watchdog"' in original or 'alertname="Watchdog"' in original, original
    assert status["cluster"]["status"] == "disabled"


def test_stack_specs_run_the_built_binaries_not_debians() -> None:
    bins = Binaries.unbuilt()
    env = load_environment("local", environ={})
    specs = {s.name: s for s in process_specs(env, Layout(Path("/nonexistent")), bins, "postgresql://unused", None)}
    assert specs["prometheus"].argv[0] == "prometheus" and specs["alertmanager"].argv[0] == "alertmanager"
    assert pins.PROMETHEUS_2X not in {s.argv[0] for s in specs.values()}, "Debian's 2.x is installed, never run"


@pytest.mark.parametrize("name", ["node-exporter", "postgres-exporter"])
def test_exporters_are_the_charts_versions(name: str) -> None:
    spec, binary = (
        (pins.NODE_EXPORTER, gobuild.go_install(pins.NODE_EXPORTER))
        if name == "node-exporter"
        else (pins.POSTGRES_EXPORTER, gobuild.build_source_module(pins.POSTGRES_EXPORTER))
    )
    done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False)
    first = (done.stdout + done.stderr).splitlines()[0]
    assert f"version {spec.stamp} " in first, f"{binary} --version: {first}"
