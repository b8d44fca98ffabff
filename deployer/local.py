"""``up``, ``down`` and ``status`` of a local target: the signal stack (``--env local``) or the
Kubernetes control plane (``--env kwok``), each a list of components (deployer/engine/component.py).

``up`` is idempotent: what runs with the same command and configs is left alone,
what is stale is restarted, what is missing is started; then every component is
ready-checked against STACK_START_DEADLINE.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from obs_conformance.clients.errors import BackendError, WaitTimeout
from obs_conformance.clients.polling import Observation, wait_for
from obs_conformance.deployer.engine.component import Component, Target
from obs_conformance.deployer.engine.layout import Layout
from obs_conformance.deployer.engine.processes import ProcessManager, ProcessSpec, probe_ready
from obs_conformance.deployer.errors import StackError
from obs_conformance.deployer.targets.stack.cluster_config import ClusterConfig
from obs_conformance.deployer.toolchain import gobuild, locks
from obs_conformance.deployer.toolchain.charts import ChartSource
from obs_conformance.deployer.toolchain.progress import log_tail, say
from obs_conformance.envconf import Environment


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    ready: bool
    seen: str
    where: str


def target_for(env: Environment, layout: Layout | None = None, charts: ChartSource | None = None) -> Target:
    """The target the env's TARGET names. Its state dir: ``layout`` when given, else .local-stack
    (OBSCONF_STATE) for the signal stack and .local-stack/kube for the control plane.

    The signal stack runs the rules and Alertmanager config prometheus-operator would generate from
    kube-prometheus-stack rendered with the env's values, the chart from ``charts`` (default:
    ``OBSCONF_CHARTS``, else the charts' repositories; the render is cached on disk).
    """
    root = layout or Layout.default()
    if env.is_local:
        from obs_conformance.deployer.targets.stack.target import LocalTarget

        def cluster_config() -> ClusterConfig:
            from obs_conformance.deployer.cluster.operator_config import cluster_config

            return cluster_config(env, charts or ChartSource.from_option(None))

        return LocalTarget(env, root, cluster_config=cluster_config)
    if env.is_kwok:
        from obs_conformance.deployer.targets.kwok.target import KubeTarget

        return KubeTarget(env, Layout(root.root / "kube") if layout is None else root)
    raise StackError(
        f"python -m deployer local runs --env local or --env kwok (TARGET local or kwok), not TARGET={env.target} "
        f"({env.path}); clusters are deployed with python -m deployer up --env {env.name}"
    )


class LocalStack:
    """``up``/``down``/``status`` of a local target; each component brings its own steps."""

    def __init__(self, env: Environment, layout: Layout | None = None, charts: ChartSource | None = None) -> None:
        self.env = env
        self.target = target_for(env, layout, charts)
        self.layout = self.target.layout
        self.processes = ProcessManager(self.layout)

    def up(self) -> list[ComponentStatus]:
        start = time.monotonic()
        self.layout.create()
        self.target.build()
        components = self.target.components()
        for component in components:
            if component.build is not None:
                component.build()
        configs = self.target.prepare()
        for config in [*configs, *(r for c in components for r in c.rendered)]:
            config.write()
        started: list[str] = []
        for component in components:
            spec = component.spec
            wanted = component.fingerprint(configs)
            if self.processes.pid(spec.name) is not None:
                if self.processes.fingerprint(spec.name) == wanted:
                    self._after_ready(component)
                    continue
                stopped = self.processes.stop(spec.name, stop_signal=spec.stop_signal)
                say(f"{spec.name}: command or config changed, restarting ({stopped})")
            if component.prepare is not None:
                self._step(spec.name, component.prepare)
            self.processes.start(spec, wanted)
            started.append(spec.name)
            self._after_ready(component)
        statuses = self._wait_ready([c.spec for c in components])
        say(f"up in {time.monotonic() - start:.1f}s; started: {', '.join(started) or 'nothing (all running)'}")
        return statuses

    def _after_ready(self, component: Component) -> None:
        if component.after_ready is not None:
            self._wait_ready([component.spec])
            self._step(component.spec.name, component.after_ready)

    @staticmethod
    def _step(name: str, step: Callable[[], None]) -> None:
        """A component's own step: an API refusing it, or a wait of it that timed out, names the component."""
        try:
            step()
        except (BackendError, WaitTimeout) as e:
            raise StackError(f"{name}: {e}") from e

    def _wait_ready(self, specs: list[ProcessSpec]) -> list[ComponentStatus]:
        """Until every one of ``specs`` is ready; a process that exited ends the wait at once."""
        last: list[ComponentStatus] = []

        def probe() -> Observation[list[ComponentStatus]]:
            nonlocal last
            statuses = [self._status(spec) for spec in specs]
            last = [s for s in statuses if not s.ready]
            dead = [s for s in last if s.pid is None]
            if dead:
                raise StackError(f"{self.target.title} not ready:\n" + self._logs(dead, "exited"))
            shown = "; ".join(f"{s.name}: {s.seen}" for s in last)
            return Observation(statuses, not last, shown)

        try:
            return wait_for(
                probe,
                expected=f"{', '.join(spec.name for spec in specs)} ready",
                where="; ".join(f"{spec.name} {spec.where}" for spec in specs),
                deadline=self.env.duration("STACK_START_DEADLINE").seconds,
                max_interval=0.5,
            ).value
        except WaitTimeout as e:
            raise StackError(f"{self.target.title} not ready: {e}\n" + self._logs(last, "not ready")) from None

    def _logs(self, statuses: list[ComponentStatus], state: str) -> str:
        """Each component's state and the (masked) tail of its log."""
        lines = []
        for s in statuses:
            log = self.processes.log_path(s.name)
            tail = self.env.mask(log_tail(log, 8))
            for secret in self.generated_secrets():
                tail = tail.replace(secret, "****")
            lines.append(f"{s.name}: {state}; log {log}:\n{tail}")
        return "\n".join(lines)

    def _status(self, spec: ProcessSpec) -> ComponentStatus:
        pid = self.processes.pid(spec.name)
        ready, seen = probe_ready(spec) if pid is not None else (False, "not running")
        return ComponentStatus(spec.name, pid, ready, seen, spec.where)

    def status(self) -> list[ComponentStatus]:
        return [self._status(c.spec) for c in self.target.components()]

    def ensure_started(self) -> list[ComponentStatus]:
        """Start the stack when none of it runs; leave a partly running stack as it is.

        A component that was stopped on purpose is the thing under test: healing
        it would hide exactly what the suites are meant to report. Serialized by a
        file lock, since every xdist worker asks at once.
        """
        self.layout.create()
        with (self.layout.root / "up.lock").open("w") as lock:
            self._lock(lock)
            statuses = self.status()
            if any(s.pid is not None for s in statuses):
                return statuses
            return self.up()

    def generated_secrets(self) -> list[str]:
        """The secrets this stack made for itself (mock hook token, Postgres password), for masking."""
        return self.target.generated_secrets()

    def _lock(self, lock: IO[str]) -> None:
        """Take the up-lock, waiting at most as long as a cold start can take (the Go builds)."""
        try:
            locks.lock_exclusive(
                lock,
                self.layout.root / "up.lock",
                deadline=gobuild.BUILD_TIMEOUT + self.env.duration("STACK_START_DEADLINE").seconds,
                what=f"another up of the {self.target.title} (starting it?)",
                first_interval=0.05,
                max_interval=1.0,
            )
        except WaitTimeout as e:
            raise StackError(str(e)) from None

    def component_names(self) -> list[str]:
        return [c.name for c in self.target.components()]

    def down(self, only: list[str] | None = None, delete_data: bool = False) -> list[str]:
        """Stop, in reverse order, only the processes this stack started (``only``: some of them);
        ``delete_data``: then remove the target's data (all of it: no ``only``)."""
        specs = {c.name: c.spec for c in self.target.components()}
        names = list(specs)
        unknown = sorted(set(only or []) - set(names))
        if unknown:
            raise StackError(f"unknown component(s) {', '.join(unknown)}; known: {', '.join(names)}")
        if delete_data and only:
            raise StackError("--delete-data stops every component: name none")
        doomed = self.target.data() if delete_data else []
        lines = [
            f"{name}: {self.processes.stop(name, stop_signal=specs[name].stop_signal)}"
            for name in reversed(names)
            if not only or name in only
        ]
        for path in doomed:
            if path.exists():
                shutil.rmtree(path)
                lines.append(f"deleted {path}")
        return lines
