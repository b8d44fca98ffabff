"""Starting and stopping the local stack's processes, by pid files that prove ownership.

``down`` must stop only what ``up`` started: a pid file records the pid, the
executable and the process start time, and a pid whose executable or start time no
longer match (a reused pid) is left alone.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from obs_conformance.clients.errors import WaitTimeout
from obs_conformance.clients.polling import Observation, wait_for
from obs_conformance.deployer.engine.layout import Layout
from obs_conformance.deployer.toolchain.run import Process, TimeoutExpired, run, spawn


@dataclass(frozen=True)
class ProcessSpec:
    """One process of the stack and how to tell it is ready."""

    name: str
    argv: tuple[str, ...]
    ready_url: str = ""
    ready_tcp: tuple[str, int] | None = None
    ready_command: tuple[str, ...] = ()  # ready when it exits 0 (pg_isready)
    env: dict[str, str] = field(default_factory=dict, repr=False)  # may hold secrets: never shown
    user: str | None = None
    cwd: Path | None = None
    configs: tuple[Path, ...] = ()  # files it reads: a change restarts it
    stop_signal: int = signal.SIGTERM
    # a probe of its own, for what a plain GET cannot tell (a client certificate, objects in an API):
    # called with a timeout, returns (ready, what was seen); ready_url then only names where it looks
    ready_probe: Callable[[float], tuple[bool, str]] | None = field(default=None, compare=False, repr=False)

    @property
    def where(self) -> str:
        if self.ready_url:
            return self.ready_url
        if self.ready_tcp:
            return f"tcp://{self.ready_tcp[0]}:{self.ready_tcp[1]}"
        if self.ready_command:
            return " ".join(self.ready_command)
        return "(no readiness endpoint)"


def _exe(pid: int) -> str:
    """The executable of ``pid``: unlike the command line, programs cannot rewrite it (nginx does)."""
    try:
        return os.path.realpath(f"/proc/{pid}/exe")
    except OSError:
        return ""


def _start_time(pid: int) -> str:
    """Field 22 of /proc/<pid>/stat: with the pid, it names one process for the life of the machine."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def probe_ready(spec: ProcessSpec, timeout: float = 1.0) -> tuple[bool, str]:
    """One readiness probe: (ready, what was seen)."""
    if spec.ready_probe is not None:
        return spec.ready_probe(timeout)
    if spec.ready_url:
        try:
            response = requests.get(spec.ready_url, timeout=timeout)
        except requests.RequestException as e:
            return False, f"{type(e).__name__}"
        return response.status_code == 200, f"HTTP {response.status_code}"
    if spec.ready_command:
        try:
            done = run(spec.ready_command, timeout=timeout * 5)
        except TimeoutExpired:
            return False, "no answer"
        return done.returncode == 0, (done.stdout or done.stderr).strip()[-120:]
    if spec.ready_tcp:
        try:
            with socket.create_connection(spec.ready_tcp, timeout=timeout):
                return True, "accepting connections"
        except OSError as e:
            return False, e.strerror or type(e).__name__
    return True, "no readiness endpoint"


class ProcessManager:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        # children started by this manager: polled directly, since between fork and
        # exec /proc/<pid>/cmdline still shows our own command line
        self._children: dict[str, Process] = {}

    def _pidfile(self, name: str) -> Path:
        return self.layout.run / f"{name}.pid"

    def log_path(self, name: str) -> Path:
        return self.layout.logs / f"{name}.log"

    def _record(self, name: str) -> dict[str, object] | None:
        try:
            record: dict[str, object] = json.loads(self._pidfile(name).read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return record

    def pid(self, name: str) -> int | None:
        """The pid of our running ``name``, or None (also when the pid was reused by another program)."""
        child = self._children.get(name)
        if child is not None:
            return child.pid if child.poll() is None else None
        record = self._record(name)
        if record is None:
            return None
        pid = int(str(record["pid"]))
        if _is_zombie(pid) or _exe(pid) != os.path.realpath(str(record["argv0"])):
            return None
        if record.get("started") and _start_time(pid) != record["started"]:
            return None  # the pid was reused by another process of the same program
        return pid

    def fingerprint(self, name: str) -> str:
        record = self._record(name)
        return str(record.get("fingerprint", "")) if record else ""

    def start(self, spec: ProcessSpec, fingerprint: str = "") -> int:
        log = self.log_path(spec.name)
        env = {**os.environ, **spec.env}
        with log.open("ab") as out:
            out.write(f"=== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {spec.name} ===\n".encode())
            out.flush()
            process = spawn(
                spec.argv, stdout=out, merge_stderr=True, env=env, cwd=spec.cwd, user=spec.user, new_session=True
            )
        self._pidfile(spec.name).write_text(
            json.dumps(
                {
                    "pid": process.pid,
                    "argv0": spec.argv[0],
                    "fingerprint": fingerprint,
                    "started": _start_time(process.pid),
                }
            )
        )
        self._children[spec.name] = process
        return process.pid

    def stop(self, name: str, deadline: float = 15.0, stop_signal: int = signal.SIGTERM) -> str:
        """Stop ``name`` if we started it: SIGTERM, then SIGKILL at the deadline. Says what happened."""
        pid = self.pid(name)
        self._pidfile(name).unlink(missing_ok=True)
        child = self._children.pop(name, None)
        if pid is None:
            return "not running"
        try:
            os.kill(pid, stop_signal)
        except ProcessLookupError:
            return f"already gone (pid {pid})"

        def gone() -> Observation[bool]:
            ended = child.poll() is not None if child is not None else not _cmdline(pid) or _is_zombie(pid)
            return Observation(ended, ended, "still running")

        try:
            wait_for(
                gone, expected=f"{name} (pid {pid}) gone", where=f"/proc/{pid}", deadline=deadline, max_interval=0.05
            )
        except WaitTimeout:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                return f"stopped (pid {pid})"
            return f"killed after {deadline:g}s (pid {pid})"
        return f"stopped (pid {pid})"


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True
