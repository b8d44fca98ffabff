"""Helpers to break one thing for real: a private Alertmanager or Prometheus with a mutated config,
and a run of the suites pointed at it through a copied env file."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import yaml

from clients.polling import Observation, wait_for
from deployer.local.components import Rendered, render_configs
from deployer.local.layout import Layout
from envconf import load_environment
from envconf.environment import ENVIRONMENTS_DIR

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
    rendered: list[Rendered] = render_configs(load_environment("local", environ={}), layout, hook)
    return {r.path.name: yaml.safe_load(r.text) for r in rendered} | {"_hook_file": str(hook)}


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
        "/usr/bin/prometheus-alertmanager", f"--config.file={path}", f"--storage.path={tmp_path / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
    ]  # fmt: skip
    with running(argv, "/-/ready", port, tmp_path, "alertmanager") as url:
        yield url


@contextmanager
def prometheus_with(config: dict[str, Any], rules: dict[str, Any], tmp_path: Path) -> Iterator[str]:
    port = free_port()
    rules_path = tmp_path / "rules.yml"
    rules_path.write_text(yaml.safe_dump(rules))
    config = {**config, "rule_files": [str(rules_path)], "scrape_configs": [], "alerting": {}}
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    argv = [
        "/usr/bin/prometheus", f"--config.file={path}", f"--storage.tsdb.path={tmp_path / 'prom-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]  # fmt: skip
    with running(argv, "/-/ready", port, tmp_path, "prometheus") as url:
        yield url


def run_suites_with(tmp_path: Path, overrides: dict[str, str], *selection: str) -> subprocess.CompletedProcess[str]:
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
        "-p",
        "no:randomly",
    ]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
