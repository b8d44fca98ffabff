"""What ``up`` would install, rendered offline: every helm release of the plan through ``helm template``.

The releases are taken from the plan itself (the very ``helm upgrade --install``
commands ``up`` runs, with the same values files), so what is rendered here is what a
cluster would get. Used by the project's tests against the real pinned charts.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obs_conformance.deployer.cluster.plan import Command, Step
from obs_conformance.deployer.toolchain.charts import load_all

RENDER_TIMEOUT = 120.0
# Options of `helm upgrade --install` that `helm template` has no use for, with their argument count.
_UPGRADE_ONLY = {
    "--install": 0,
    "--wait": 0,
    "--create-namespace": 0,
    "--timeout": 1,
    "--kube-context": 1,
    "--kubeconfig": 1,
}


class RenderError(Exception):
    """``helm template`` or ``helm lint`` refused a release; the message names it and says why."""


@dataclass(frozen=True)
class Release:
    """One ``helm upgrade --install`` of the plan: release, chart reference, namespace, values options."""

    name: str
    chart: tuple[str, ...]
    namespace: str
    values: tuple[str, ...]

    @classmethod
    def from_command(cls, command: Command) -> Release:
        argv = list(command.argv)
        at = argv.index("upgrade")
        rest: list[str] = []
        i = at + 1
        while i < len(argv):
            skip = _UPGRADE_ONLY.get(argv[i])
            if skip is None:
                rest.append(argv[i])
                i += 1
            else:
                i += 1 + skip
        name = rest.pop(0)
        namespace = rest[rest.index("--namespace") + 1]
        del rest[rest.index("--namespace") : rest.index("--namespace") + 2]
        chart: list[str] = [rest.pop(0)]
        for option in ("--repo", "--version"):
            if option in rest:
                at = rest.index(option)
                chart += rest[at : at + 2]
                del rest[at : at + 2]
        return cls(name, tuple(chart), namespace, tuple(rest))


def releases(steps: list[Step]) -> list[Release]:
    return [
        Release.from_command(command)
        for step in steps
        for command in step.commands
        if command.argv[0] == "helm" and "upgrade" in command.argv
    ]


def _helm(helm: Path, argv: list[str], what: str) -> str:
    try:
        done = subprocess.run([str(helm), *argv], capture_output=True, text=True, timeout=RENDER_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RenderError(f"{what}: {e}") from e
    if done.returncode != 0:
        raise RenderError(f"{what}: `helm {' '.join(argv)}` exited {done.returncode}: {done.stderr.strip()[-1500:]}")
    return done.stdout


def template_text(helm: Path, release: Release, kube_version: str) -> str:
    """The release's manifests (CRDs included) as ``helm install`` would send them, as YAML text."""
    argv = [
        "template", release.name, *release.chart, "--namespace", release.namespace,
        "--kube-version", kube_version, "--include-crds", *release.values,
    ]  # fmt: skip
    return _helm(helm, argv, f"helm template of release {release.name}")


def template(helm: Path, release: Release, kube_version: str) -> list[dict[str, Any]]:
    return load_all(template_text(helm, release, kube_version))


def lint(helm: Path, release: Release, kube_version: str) -> str:
    """``helm lint --strict`` of the chart with the release's values; its output on success."""
    argv = ["lint", *release.chart, "--strict", "--kube-version", kube_version, "--namespace", release.namespace,
            *release.values]  # fmt: skip
    if "--repo" in release.chart:
        raise RenderError(f"helm lint of release {release.name}: needs a local chart (--charts DIR)")
    return _helm(helm, argv, f"helm lint of release {release.name}")
