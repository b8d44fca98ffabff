"""What a local target runs, declared as data: the orchestrator (stack.py) only loops over it.

A target (the signal stack of ``--env local``, the control plane of ``--env kwok``) is a list
of components in start order. Each component is a process plus the steps it owns: what it
needs built, what must exist before it starts (initdb), what to do once it answers (a
database role, the StorageClass and nodes of an API server), and the files it reads, whose
change restarts it.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from obs_conformance.deployer.engine.layout import Layout
from obs_conformance.deployer.engine.processes import ProcessSpec


@dataclass(frozen=True)
class Rendered:
    """A config file and its text (written only when changed; 0600 when ``private``)."""

    path: Path
    text: str
    private: bool = False

    def write(self) -> bool:
        """Write when missing or changed; says whether it wrote."""
        if self.path.is_file() and self.path.read_text() == self.text:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.private:
            self.path.touch(mode=0o600)
            self.path.chmod(0o600)
        self.path.write_text(self.text)
        return True


def _own_module_sources(argv: tuple[str, ...]) -> list[Path]:
    """The source file of a ``python -m obs_conformance.<module>`` command, so a change to it restarts it."""
    args = list(argv)
    if "-m" not in args[:-1]:
        return []
    module = args[args.index("-m") + 1]
    if not module.startswith("obs_conformance."):
        return []
    found = importlib.util.find_spec(module)
    return [Path(found.origin)] if found is not None and found.origin else []


def fingerprint(spec: ProcessSpec, configs: list[Rendered]) -> str:
    """Changes when the command or a config the process reads changes, so ``up`` restarts what is stale."""
    digest = hashlib.sha256("\0".join(spec.argv).encode())
    for source in _own_module_sources(spec.argv):  # the project's own code (the Slack mock) is part of its command
        digest.update(source.read_bytes())
    for key, value in sorted(spec.env.items()):  # e.g. a changed Postgres password in the DSN
        digest.update(f"{key}={value}".encode())
    for config in configs:
        if config.path in spec.configs:
            digest.update(config.text.encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Component:
    """One process of a target and its lifecycle hooks (each optional, each idempotent)."""

    spec: ProcessSpec
    # compile or install what it runs; only ``up`` calls it, before anything starts (slow once, then cached)
    build: Callable[[], object] | None = None
    # right before the process starts (not when it already runs): initdb, a data directory
    prepare: Callable[[], None] | None = None
    # on every ``up`` once it is ready, before the next component starts: roles, objects in an API
    after_ready: Callable[[], None] | None = None
    # files it reads, written by ``up`` when changed (0600 when private) and part of its fingerprint
    rendered: tuple[Rendered, ...] = ()

    @property
    def name(self) -> str:
        return self.spec.name

    def fingerprint(self, configs: list[Rendered]) -> str:
        """Changes when its command, environment or a file it reads changes: ``up`` then restarts it."""
        own = tuple(r.path for r in self.rendered)
        return fingerprint(replace(self.spec, configs=self.spec.configs + own), [*configs, *self.rendered])


class Target(Protocol):
    """One kind of local stack: its state directory, its preparation and its components."""

    title: str  # names it in messages: "local stack", "kwok control plane"
    layout: Layout

    def build(self) -> None:
        """Install or compile what the components run (``up`` only; cached after the first run)."""

    def prepare(self) -> list[Rendered]:
        """Every ``up``, before starting: certificates, generated secrets; returns the shared configs."""

    def components(self) -> list[Component]:
        """In start order; cheap (no building), since ``status`` and ``down`` ask too."""

    def generated_secrets(self) -> list[str]:
        """Secrets it made for itself, to mask in every output."""

    def data(self) -> list[Path]:
        """What ``down --delete-data`` removes once every process stopped (asked while they still run)."""
