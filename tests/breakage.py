"""Helpers to break one thing for real: a private Alertmanager or Prometheus with a mutated config,
and a run of the suites pointed at it through a copied env file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import yaml

from obs_conformance.clients.polling import Observation, wait_for
from obs_conformance.deployer import pins
from obs_conformance.deployer.cluster.operator_config import cluster_config
from obs_conformance.deployer.engine.component import Rendered
from obs_conformance.deployer.engine.layout import Layout
from obs_conformance.deployer.targets.stack.components import render_configs
from obs_conformance.deployer.toolchain import gobuild
from obs_conformance.envconf import load_environment
from obs_conformance.envconf.environment import ENVIRONMENTS_DIR
from tests.cluster_render import CHARTS, shared_otlp_htpasswd

ROOT = Path(__file__).resolve().parent.parent
LOCAL_ENV = (ENVIRONMENTS_DIR / "local" / "local.env").read_text()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def local_configs(tmp_path: Path, webhook: str) -> dict[str, Any]:
    """The local stack's rendered configs, parsed, with ``webhook`` as the Slack URL."""
    layout = Layout(tmp_path / "state")
    layout.create()
    hook = layout.secrets / "slack_webhook_url"
    hook.write_text(webhook)
    env = load_environment("local", environ={})
    rendered: list[Rendered] = render_configs(
        env, layout, hook, cluster_config(env, CHARTS), otlp_htpasswd_file=shared_otlp_htpasswd()
    )
    # YAML parsed; the others (nginx.conf) as their text
    configs: dict[str, Any] = {
        r.path.name: yaml.safe_load(r.text) if r.path.suffix in (".yml", ".yaml") else r.text for r in rendered
    }
    # the rule files, as one file for the private Prometheus (group names are unique across them);
    # not the canary's glob, which holds a file only while a canary runs
    rules = [configs[Path(p).name] for p in configs["prometheus.yml"]["rule_files"] if "*" not in p]
    return configs | {"rules.yml": {"groups": [g for r in rules for g in r["groups"]]}, "_hook_file": str(hook)}


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    def probe() -> Observation[bool]:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited: {log.read_text()[-1500:]}")
        try:
            ok = requests.get(url, timeout=1).status_code == 200
        except requests.RequestException:
            ok = False
        return Observation(ok, ok, "not ready")

    wait_for(probe, deadline=30, expected="ready", where=url)


@contextmanager
def running(argv: list[str], ready_path: str, port: int, tmp_path: Path, name: str) -> Iterator[str]:
    log = tmp_path / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url + ready_path, process, log)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def alertmanager_with(config: dict[str, Any], tmp_path: Path) -> Iterator[str]:
    port = free_port()
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    argv = [
        str(gobuild.go_install(pins.ALERTMANAGER)), f"--config.file={path}", f"--storage.path={tmp_path / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
    ]  # fmt: skip
    with running(argv, "/-/ready", port, tmp_path, "alertmanager") as url:
        yield url


PROMETHEUS_2 = "/usr/bin/prometheus"  # Debian's 2.42 package


def prometheus_binary(major: int) -> str | None:
    """A Prometheus of ``major`` on this machine, or None.

    2: Debian's package (``pins.PROMETHEUS_2X``). 3: the project's own build of ``pins.PROMETHEUS``
    (the stack's Prometheus, built by ``deployer local up``), else ``OBSCONF_PROMETHEUS3`` (a path).
    """
    from obs_conformance.deployer import pins

    if major == 2:
        path = str(getattr(pins, "PROMETHEUS_2X", PROMETHEUS_2))
        return path if Path(path).is_file() else None
    spec = getattr(pins, "PROMETHEUS", None)
    if spec is not None:
        from obs_conformance.deployer.toolchain.gobuild import build_source_module

        return str(build_source_module(spec))
    override = os.environ.get("OBSCONF_PROMETHEUS3", "")
    return override if override and Path(override).is_file() else None


@contextmanager
def prometheus_with(
    config: dict[str, Any],
    rules: dict[str, Any],
    tmp_path: Path,
    keep_scrapes: bool = False,
    wait_scrape: bool = False,
    extra_args: tuple[str, ...] = (),
    binary: str = PROMETHEUS_2,
    name: str = "prometheus",
) -> Iterator[str]:
    """A private Prometheus (no exemplar storage unless asked); scrapes only when ``keep_scrapes``."""
    port = free_port()
    home = tmp_path / name
    home.mkdir(parents=True, exist_ok=True)
    rules_path = home / "rules.yml"
    rules_path.write_text(yaml.safe_dump(rules))
    config = {**config, "rule_files": [str(rules_path)], "alerting": {}}
    if not keep_scrapes:
        config["scrape_configs"] = []
    path = home / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    argv = [
        binary, f"--config.file={path}", f"--storage.tsdb.path={home / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}", *extra_args,
    ]  # fmt: skip
    with running(argv, "/-/ready", port, tmp_path, name) as url:
        if wait_scrape:
            _wait_first_scrapes(url)
        yield url


def _wait_first_scrapes(url: str) -> None:
    """Until every target has been scraped once (health no longer 'unknown')."""

    def probe() -> Observation[bool]:
        targets = requests.get(f"{url}/api/v1/targets", timeout=2).json()["data"]["activeTargets"]
        done = bool(targets) and all(t["health"] != "unknown" for t in targets)
        return Observation(done, done, str([t["health"] for t in targets]))

    wait_for(probe, deadline=30, expected="first scrapes", where=url)


def run_suites_with(
    tmp_path: Path, overrides: dict[str, str], *selection: str, state: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the suites against the local stack with some env values replaced."""
    text = LOCAL_ENV
    for key, value in overrides.items():
        line = next(x for x in text.splitlines() if x.startswith(f"{key}="))
        text = text.replace(line, f'{key}="{value}"')
    env_file = tmp_path / "broken.env"
    env_file.write_text(text)
    argv = [
        sys.executable,
        "-m",
        "pytest",
        *selection,
        "--env",
        str(env_file),
        "--no-stack-up",
        "-q",
        "--no-reports",
    ]
    environ = {**os.environ, "OBSCONF_STATE": str(state)} if state else None
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False, env=environ)


@contextmanager
def collector_with(
    config: dict[str, Any], tmp_path: Path, telemetry_port: int = 0, exporter_port: int = 0
) -> Iterator[tuple[str, str]]:
    """A private collector (same binary) on free ports; yields (gRPC endpoint, HTTP URL).

    Pass ``telemetry_port``/``exporter_port`` to have a private Prometheus scrape its own
    telemetry and its prometheus exporter.
    """
    from obs_conformance.deployer.toolchain.gobuild import build_collector

    grpc_port, http_port, telemetry_port = free_port(), free_port(), telemetry_port or free_port()
    protocols = config["receivers"]["otlp"]["protocols"]
    if "grpc" in protocols:
        protocols["grpc"]["endpoint"] = f"127.0.0.1:{grpc_port}"
    if "http" in protocols:
        protocols["http"]["endpoint"] = f"127.0.0.1:{http_port}"
    config["exporters"]["prometheus"]["endpoint"] = f"127.0.0.1:{exporter_port or free_port()}"
    config["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]["port"] = telemetry_port
    path = tmp_path / "otelcol.yaml"
    path.write_text(yaml.safe_dump(config))
    argv = [str(build_collector()), f"--config={path}"]
    with running(argv, "/metrics", telemetry_port, tmp_path, "collector"):
        yield f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{http_port}"


@contextmanager
def scraped_collector(configs: dict[str, Any], tmp_path: Path) -> Iterator[tuple[str, str, str, int]]:
    """A private collector (``configs["otelcol.yaml"]``) whose telemetry a private Prometheus
    (``configs["prometheus.yml"]``, the stack's rules) scrapes as the env's ``otel-collector`` job;
    yields (gRPC endpoint, HTTP URL, Prometheus URL, telemetry port)."""
    telemetry = free_port()
    prometheus = configs["prometheus.yml"]
    prometheus["scrape_configs"] = [
        {"job_name": "otel-collector", "static_configs": [{"targets": [f"127.0.0.1:{telemetry}"]}]}
    ]
    with (
        collector_with(configs["otelcol.yaml"], tmp_path, telemetry_port=telemetry) as (grpc, http),
        prometheus_with(prometheus, configs["rules.yml"], tmp_path, keep_scrapes=True, wait_scrape=True) as url,
    ):
        yield grpc, http, url, telemetry


@contextmanager
def victorialogs_with(retention: str, tmp_path: Path) -> Iterator[str]:
    from obs_conformance.deployer import pins
    from obs_conformance.deployer.toolchain.gobuild import build_source_module

    port = free_port()
    argv = [
        str(build_source_module(pins.VICTORIALOGS)), f"-httpListenAddr=127.0.0.1:{port}",
        f"-storageDataPath={tmp_path / 'vl-data'}", f"-retentionPeriod={retention}",
    ]  # fmt: skip
    with running(argv, "/health", port, tmp_path, "victorialogs") as url:
        yield url


@contextmanager
def log_agent_with(config: dict[str, Any], state: Path, tmp_path: Path) -> Iterator[None]:
    """A private log agent tailing ``state``/pods, so suites run with OBSCONF_STATE=state write there."""
    from obs_conformance.deployer.toolchain.gobuild import build_collector

    port = free_port()
    config["receivers"]["file_log"]["include"] = [f"{state / 'pods'}/*/*/*.log"]
    config["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]["port"] = port
    path = tmp_path / "log-agent.yaml"
    path.write_text(yaml.safe_dump(config))
    with running([str(build_collector()), f"--config={path}"], "/metrics", port, tmp_path, "log-agent"):
        yield


@contextmanager
def front_door_with(state: Path, tmp_path: Path, htpasswd_file: Path | None = None) -> Iterator[tuple[int, int]]:
    """A private nginx serving the certificates under ``state``/secrets/tls; yields (https, http) ports.

    With ``htpasswd_file`` it asks for basic authentication, as the local stack's does by default."""
    from obs_conformance.deployer.render import render
    from obs_conformance.deployer.targets.stack.components import ingress_backends

    env = load_environment("local", environ={})
    https_port, http_port = free_port(), free_port()
    layout = Layout(state)
    (state / "nginx-temp").mkdir(parents=True, exist_ok=True)
    config = render(
        "local/nginx.conf.j2",
        {
            "run_dir": str(tmp_path), "logs_dir": str(tmp_path), "temp_dir": str(state / "nginx-temp"),
            "cert_dir": str(layout.tls), "http_listen": f"127.0.0.1:{http_port}", "https_listen": f"127.0.0.1:{https_port}",
            "https_port": https_port, "hosts": ingress_backends(env),
            "htpasswd_file": str(htpasswd_file or ""),
        },
    )  # fmt: skip
    path = tmp_path / "nginx.conf"
    path.write_text(config)
    argv = ["/usr/sbin/nginx", "-p", str(state), "-c", str(path)]
    log = tmp_path / "nginx.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)

    def probe() -> Observation[bool]:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited: {log.read_text()[-1500:]}")
        try:
            with socket.create_connection(("127.0.0.1", https_port), timeout=1):
                return Observation(True, True, "")
        except OSError:
            return Observation(False, False, "not listening")

    try:
        wait_for(probe, deadline=20, expected="nginx listening", where=f"127.0.0.1:{https_port}")
        yield https_port, http_port
    finally:
        process.terminate()
        process.wait(timeout=20)
