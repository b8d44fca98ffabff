"""kubectl, helm and the other command-line tools as typed commands: the one place their command
lines are made, and (through :mod:`toolchain.run`) the one place they are run.

A :class:`Tool` is a program with the options every call of it carries (kubectl's kubeconfig and
context, helm's kubeconfig and kube-context); a :class:`Command` is one call of it, shown as
``kubectl ...``/``helm ...`` (stdin, a Secret manifest, never printed) and run with a timeout.
Which binary runs is decided only then: the one on PATH, else the project's pinned build, or
always the pinned build where the target asks for it (kwok: its API server's version).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from obs_conformance.deployer.toolchain import kube_build
from obs_conformance.deployer.toolchain.helm_build import build_helm
from obs_conformance.deployer.toolchain.run import Completed, Process, spawn
from obs_conformance.deployer.toolchain.run import run as run_to_end
from obs_conformance.envconf import Environment, Secret


@dataclass(frozen=True)
class Tool:
    """A program and the options every call of it carries; ``build`` is the project's pinned build."""

    name: str
    prefix: tuple[str, ...] = ()
    build: Callable[[], Path] | None = field(default=None, compare=False, repr=False)
    pinned_only: bool = False

    def __call__(self, *args: str, stdin: Secret | None = None) -> Command:
        return Command(self, args, stdin)

    def on_path(self) -> bool:
        return shutil.which(self.name) is not None

    def binary(self) -> str:
        """The program on PATH, else (and with ``pinned_only`` always) the pinned build (built on first use)."""
        if self.build is not None and (self.pinned_only or not self.on_path()):
            return str(self.build())
        return self.name


@dataclass(frozen=True)
class Command:
    """One call of a tool: printable (``argv``, ``shown``) and runnable (``run``, ``spawn``)."""

    tool: Tool
    args: tuple[str, ...]
    stdin: Secret | None = None

    @property
    def argv(self) -> tuple[str, ...]:
        return (self.tool.name, *self.tool.prefix, *self.args)

    def shown(self) -> str:
        text = " ".join(self.argv)
        if self.stdin is not None:
            text += " < (Secret manifest, values ****)"
        return text

    def run(self, timeout: float) -> Completed:
        """To completion; ``OSError`` when the program is missing, ``TimeoutExpired`` past ``timeout``."""
        return run_to_end(
            [self.tool.binary(), *self.argv[1:]],
            input=self.stdin.reveal() if self.stdin is not None else None,
            timeout=timeout,
        )

    def spawn(self, stderr: IO[bytes] | None = None) -> Process:
        """Started and left running (a port-forward); stdout discarded, stderr to ``stderr`` or discarded."""
        return spawn([self.tool.binary(), *self.argv[1:]], stderr=stderr)


FIELD_MANAGER = "obs-conformance-deployer"
SERVER_SIDE = ("--server-side", f"--field-manager={FIELD_MANAGER}", "--force-conflicts")


@dataclass(frozen=True)
class Kubectl(Tool):
    """kubectl against one cluster."""

    def apply(self, path: str) -> Command:
        return self("apply", "-f", path)

    def apply_stdin(self, manifest: Secret) -> Command:
        return self("apply", "-f", "-", stdin=manifest)

    def diff(self, path: str) -> Command:
        return self("diff", "-f", path)

    def apply_owned(self, path: str) -> Command:
        """Server-side apply as the deploy's field manager, the applied objects printed as JSON: what
        other managers (operators, controllers) default or add is theirs, and an unchanged object is
        not written again (no new resourceVersion)."""
        return self("apply", "-f", path, *SERVER_SIDE, "-o", "json", "--show-managed-fields")

    def apply_owned_stdin(self, manifest: Secret) -> Command:
        return self("apply", *SERVER_SIDE, "-o", "json", "--show-managed-fields", "-f", "-", stdin=manifest)

    def diff_owned(self, path: str) -> Command:
        """What :meth:`apply_owned` would change, as the API server computes it (``--server-side``)."""
        return self("diff", "-f", path, *SERVER_SIDE)

    def get_file(self, path: str) -> Command:
        """The live objects of a manifest file as JSON (those that exist)."""
        return self("get", "-f", path, "-o", "json", "--ignore-not-found")

    def get_object(self, kind: str, name: str, namespace: str) -> Command:
        return self("get", kind, name, "--namespace", namespace, "-o", "json", "--ignore-not-found")

    def delete(self, path: str) -> Command:
        return self("delete", "--ignore-not-found", "-f", path)


@dataclass(frozen=True)
class Helm(Tool):
    """helm against one cluster (``upgrade``, ``diff``, ``uninstall``) or none (``template``, ``lint``).

    ``chart`` is a chart reference as :meth:`ChartSource.reference` gives it; ``values`` the
    ``--values FILE``/``--set=...`` options.
    """

    def upgrade_install(
        self, release: str, chart: tuple[str, ...], namespace: str, values: tuple[str, ...], timeout: str
    ) -> Command:
        return self(
            "upgrade", "--install", release, *chart, "--namespace", namespace, "--create-namespace",
            "--wait", "--timeout", timeout, *values,
        )  # fmt: skip

    def diff_upgrade(
        self, release: str, chart: tuple[str, ...], namespace: str, values: tuple[str, ...], timeout: str
    ) -> Command:
        """``helm diff upgrade`` (the helm-diff plugin) of what :meth:`upgrade_install` would change."""
        return self("diff", "upgrade", release, *chart, "--namespace", namespace, "--timeout", timeout, *values)

    def uninstall(self, release: str, namespace: str) -> Command:
        return self("uninstall", release, "--namespace", namespace, "--wait", "--ignore-not-found")

    def template(
        self, release: str, chart: tuple[str, ...], namespace: str, kube_version: str, values: tuple[str, ...]
    ) -> Command:
        """The release's manifests, CRDs included, as ``helm install`` would send them to ``kube_version``."""
        return self(
            "template", release, *chart, "--namespace", namespace, "--kube-version", kube_version,
            "--include-crds", *values,
        )  # fmt: skip

    def lint(self, chart: tuple[str, ...], namespace: str, kube_version: str, values: tuple[str, ...]) -> Command:
        return self("lint", *chart, "--strict", "--kube-version", kube_version, "--namespace", namespace, *values)


@dataclass(frozen=True)
class KubeTools:
    """kubectl and helm aimed at one cluster: the env's ``KUBECONFIG_FILE`` and ``KUBE_CONTEXT``."""

    context: str = ""
    kubeconfig: Path | None = None
    pinned_kubectl: bool = False

    @classmethod
    def of(cls, env: Environment) -> KubeTools:
        return cls(
            context=str(env.values.get("KUBE_CONTEXT", "")),
            kubeconfig=env.repo_path("KUBECONFIG_FILE") if env.values.get("KUBECONFIG_FILE") else None,
            pinned_kubectl=env.profile.pinned_kubectl,
        )

    def _kubeconfig(self) -> tuple[str, ...]:
        return ("--kubeconfig", str(self.kubeconfig)) if self.kubeconfig is not None else ()

    @property
    def kubectl(self) -> Kubectl:
        context = ("--context", self.context) if self.context else ()
        return Kubectl("kubectl", (*self._kubeconfig(), *context), kube_build.kubectl, self.pinned_kubectl)

    @property
    def helm(self) -> Helm:
        context = ("--kube-context", self.context) if self.context else ()
        return Helm("helm", (*self._kubeconfig(), *context), build_helm)


def pinned_helm() -> Helm:
    """helm for offline rendering (``template``, ``lint``): always the pinned build, whose defaults
    (the Kubernetes version it assumes) the render tests are written against."""
    return Helm("helm", (), build_helm, pinned_only=True)


def pinned(name: str, build: Callable[[], Path]) -> Tool:
    """A tool the checks run at the clusters' version (promtool), never the one on PATH."""
    return Tool(name, (), build, pinned_only=True)
