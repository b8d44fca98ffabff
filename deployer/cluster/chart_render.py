"""What ``up`` would install, rendered offline: every helm release of the plan through ``helm template``.

The releases are the plan's own :class:`~deployer.cluster.plan.Release` objects (the very
releases ``up`` installs, with the same values files), so what is rendered here is what a
cluster would get. Used by ``plan --template`` and the project's tests against the real pinned charts.
"""

from __future__ import annotations

from typing import Any

from obs_conformance.deployer.cluster.plan import Release
from obs_conformance.deployer.toolchain.charts import load_all
from obs_conformance.deployer.toolchain.run import TimeoutExpired
from obs_conformance.deployer.toolchain.tools import Command

RENDER_TIMEOUT = 120.0


class RenderError(Exception):
    """``helm template`` or ``helm lint`` refused a release; the message names it and says why."""


def _helm(command: Command, what: str) -> str:
    try:
        done = command.run(timeout=RENDER_TIMEOUT)
    except (OSError, TimeoutExpired) as e:
        raise RenderError(f"{what}: {e}") from e
    if done.returncode != 0:
        raise RenderError(f"{what}: `{command.shown()}` exited {done.returncode}: {done.stderr.strip()[-1500:]}")
    return done.stdout


def template_text(release: Release, kube_version: str) -> str:
    """The release's manifests (CRDs included) as ``helm install`` would send them, as YAML text."""
    return _helm(release.template(kube_version), f"helm template of release {release.name}")


def template(release: Release, kube_version: str) -> list[dict[str, Any]]:
    return load_all(template_text(release, kube_version))


def lint(release: Release, kube_version: str) -> str:
    """``helm lint --strict`` of the chart with the release's values; its output on success."""
    if "--repo" in release.chart:
        raise RenderError(f"helm lint of release {release.name}: needs a local chart (--charts DIR)")
    return _helm(release.lint(kube_version), f"helm lint of release {release.name}")
