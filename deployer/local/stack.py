"""``up``, ``down`` and ``status`` of the local stack.

``up`` is idempotent: what runs with the same command and configs is left alone,
what is stale is restarted, what is missing is started; then every component is
ready-checked against STACK_START_DEADLINE.
"""

from __future__ import annotations

import fcntl
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from deployer.local import gobuild, postgres, tls
from deployer.local.components import Binaries, Rendered, fingerprint, ingress_backends, process_specs, render_configs
from deployer.local.errors import StackError
from deployer.local.layout import Layout
from deployer.local.processes import ProcessManager, ProcessSpec, probe_ready
from deployer.local.progress import log_tail, say
from envconf import Environment

_pause = threading.Event()


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    ready: bool
    seen: str
    where: str


def _secret_file(path: Path, make: str) -> str:
    """Read a generated secret, creating it (0600) on first use."""
    if not path.is_file():
        path.write_text(make + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


class LocalStack:
    def __init__(self, env: Environment, layout: Layout | None = None) -> None:
        if not env.is_local:
            raise StackError(f"the local stack needs an env with TARGET=local, not {env.target} ({env.path})")
        self.env = env
        self.layout = layout or Layout.default()
        self.processes = ProcessManager(self.layout)

    def _webhook_file(self) -> Path:
        """Alertmanager reads the Slack URL from this 0600 file; the mock accepts only this hook.

        Always the mock's: a SLACK_WEBHOOK_URL in the environment is the production
        webhook, and the local stack must never post test alerts to it.
        """
        path = self.layout.secrets / "slack_webhook_url"
        mock = self.env.text("SLACK_MOCK_URL")
        if path.is_file() and not path.read_text().strip().startswith(f"{mock}/services/"):
            path.unlink()
        _secret_file(path, f"{mock}/services/T0CONFORM/B0CONFORM/{secrets.token_hex(12)}")
        return path

    def _postgres_password(self) -> str:
        if "POSTGRES_EXPORTER_PASSWORD" in self.env.secrets:
            return self.env.secret("POSTGRES_EXPORTER_PASSWORD").reveal()
        return _secret_file(self.layout.secrets / "postgres_exporter_password", secrets.token_urlsafe(18))

    def _specs(self, bins: Binaries) -> tuple[list[ProcessSpec], list[Rendered]]:
        self.layout.create()
        configs = render_configs(self.env, self.layout, self._webhook_file())
        user = self.env.text("POSTGRES_EXPORTER_USER")
        dsn = (
            f"postgresql://{user}:{quote(self._postgres_password(), safe='')}@127.0.0.1:"
            f"{self.env.port('LOCAL_POSTGRES_PORT')}/postgres?sslmode=disable"
        )
        return process_specs(self.env, self.layout, bins, dsn, postgres.run_as()), configs

    def binaries(self) -> Binaries:
        return Binaries.build()

    def _certificates(self) -> None:
        """The local CA and a certificate per ingress host (renewed before CERT_MIN_DAYS)."""
        ca = tls.ensure_ca(self.layout.tls, f"obs-conformance local CA ({self.env.name})")
        for host in ingress_backends(self.env):
            tls.ensure_host_cert(ca, self.layout.tls, host, self.env.integer("CERT_MIN_DAYS"))
        (self.layout.root / "nginx-temp").mkdir(exist_ok=True)

    def up(self) -> list[ComponentStatus]:
        start = time.monotonic()
        specs, configs = self._specs(self.binaries())
        self._certificates()
        for config in configs:
            if not config.path.is_file() or config.path.read_text() != config.text:
                config.path.write_text(config.text)
        started: list[str] = []
        for spec in specs:
            wanted = fingerprint(spec, configs)
            if self.processes.pid(spec.name) is not None:
                if self.processes.fingerprint(spec.name) == wanted:
                    if spec.name == "postgresql":
                        self._ensure_exporter_role(spec)  # the password may have changed
                    continue
                stopped = self.processes.stop(spec.name, stop_signal=spec.stop_signal)
                say(f"{spec.name}: command or config changed, restarting ({stopped})")
            if spec.name == "postgresql":
                postgres.init_cluster(spec.argv[0].rsplit("/", 1)[0], self.layout.pg_data, self.layout.pg_socket)
            self.processes.start(spec, wanted)
            started.append(spec.name)
            if spec.name == "postgresql":
                self._wait_ready([spec])
                self._ensure_exporter_role(spec)
        statuses = self._wait_ready(specs)
        say(f"up in {time.monotonic() - start:.1f}s; started: {', '.join(started) or 'nothing (all running)'}")
        return statuses

    def _ensure_exporter_role(self, spec: ProcessSpec) -> None:
        postgres.ensure_role(
            spec.argv[0].rsplit("/", 1)[0],
            self.layout.pg_socket,
            self.env.port("LOCAL_POSTGRES_PORT"),
            self.env.text("POSTGRES_EXPORTER_USER"),
            self._postgres_password(),
        )

    def _wait_ready(self, specs: list[ProcessSpec]) -> list[ComponentStatus]:
        deadline = time.monotonic() + self.env.duration("STACK_START_DEADLINE").seconds
        interval = 0.02
        while True:
            statuses = [self._status(spec) for spec in specs]
            bad = [s for s in statuses if not s.ready]
            if not bad:
                return statuses
            dead = [s for s in bad if s.pid is None]
            if dead or time.monotonic() >= deadline:
                lines = []
                for s in dead or bad:
                    state = "exited" if s.pid is None else f"not ready at {s.where} (last seen: {s.seen})"
                    log = self.processes.log_path(s.name)
                    tail = self.env.mask(log_tail(log, 8))
                    for secret in self.generated_secrets():
                        tail = tail.replace(secret, "****")
                    lines.append(f"{s.name}: {state}; log {log}:\n{tail}")
                raise StackError("local stack not ready:\n" + "\n".join(lines))
            _pause.wait(interval)
            interval = min(interval * 1.5, 0.5)

    def _status(self, spec: ProcessSpec) -> ComponentStatus:
        pid = self.processes.pid(spec.name)
        ready, seen = probe_ready(spec) if pid is not None else (False, "not running")
        return ComponentStatus(spec.name, pid, ready, seen, spec.where)

    def status(self) -> list[ComponentStatus]:
        bins = Binaries.unbuilt()
        specs, _ = self._specs(bins)
        return [self._status(spec) for spec in specs]

    def ensure_started(self) -> list[ComponentStatus]:
        """Start the stack when none of it runs; leave a partly running stack as it is.

        A component that was stopped on purpose is the thing under test: healing
        it would hide exactly what the suites are meant to report. Serialized by a
        file lock, since every xdist worker asks at once.
        """
        self.layout.create()
        with (self.layout.root / "up.lock").open("w") as lock:
            self._lock(lock.fileno())
            statuses = self.status()
            if any(s.pid is not None for s in statuses):
                return statuses
            return self.up()

    def generated_secrets(self) -> list[str]:
        """The secrets this stack made for itself (mock hook token, Postgres password), for masking."""
        found = []
        for name in ("slack_webhook_url", "postgres_exporter_password"):
            path = self.layout.secrets / name
            if path.is_file():
                found.append(path.read_text().strip())
        return found

    def _lock(self, fd: int) -> None:
        """Take the up-lock, waiting at most as long as a cold start can take (the Go builds)."""
        deadline = time.monotonic() + gobuild.BUILD_TIMEOUT + self.env.duration("STACK_START_DEADLINE").seconds
        interval = 0.05
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StackError(
                        f"another process holds {self.layout.root / 'up.lock'} (starting the stack?) too long"
                    ) from None
                _pause.wait(interval)
                interval = min(interval * 1.5, 1.0)

    def component_names(self) -> list[str]:
        return [spec.name for spec in self._specs(Binaries.unbuilt())[0]]

    def down(self, only: list[str] | None = None) -> list[str]:
        """Stop, in reverse order, only the processes this stack started (``only``: some of them)."""
        names = self.component_names()
        unknown = sorted(set(only or []) - set(names))
        if unknown:
            raise StackError(f"unknown component(s) {', '.join(unknown)}; known: {', '.join(names)}")
        specs = {spec.name: spec for spec in self._specs(Binaries.unbuilt())[0]}
        return [
            f"{name}: {self.processes.stop(name, stop_signal=specs[name].stop_signal)}"
            for name in reversed(names)
            if not only or name in only
        ]
