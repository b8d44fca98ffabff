"""``up``, ``plan``, ``diff`` and ``down`` for a cluster env."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from obs_conformance.deployer import pins
from obs_conformance.deployer.cluster import claims, release_changes
from obs_conformance.deployer.cluster.chart_render import RenderError, template
from obs_conformance.deployer.cluster.manifests import RenderedSet, render_cluster
from obs_conformance.deployer.cluster.plan import Action, Step, Tools, down_plan, releases, up_plan
from obs_conformance.deployer.cluster.readiness import client, wait_ready
from obs_conformance.deployer.cluster.runner import DeployError, Runner
from obs_conformance.deployer.engine.layout import REPO_ROOT
from obs_conformance.deployer.toolchain.charts import ChartError, ChartSource
from obs_conformance.envconf import Environment


def rendered_dir(env: Environment) -> Path:
    """Stable per env, so two runs issue identical commands (git-ignored)."""
    return Path(os.environ.get("OBSCONF_DEPLOY_DIR", REPO_ROOT / ".deploy")) / env.name


def _checked(env: Environment) -> RenderedSet:
    if env.is_local:
        raise DeployError(f"{env.path} is a local env: use `python -m deployer local up`")
    return render_cluster(env, rendered_dir(env))


def _steps(
    env: Environment, rendered: RenderedSet, charts: ChartSource, require_secrets: bool = True, canary: bool = False
) -> list[Step]:
    try:
        return up_plan(env, rendered, require_secrets=require_secrets, charts=charts, canary=canary)
    except ChartError as e:
        raise DeployError(f"charts from {charts.describe()}: {e}") from e


def up(
    env: Environment,
    out: Callable[[str], None] = print,
    charts: ChartSource | None = None,
    wait: bool = True,
    canary: bool = False,
) -> None:
    """The steps (``canary``: and the conformance canary's chart after them), then (``wait``) a warning per PVC our values would change but Kubernetes cannot
    (:mod:`claims`), and what the operators make from them, until ready or ``DEPLOY_READY_DEADLINE``:
    :class:`NotReadyError` names each stuck object and its step."""
    rendered = _checked(env)
    # a missing secret or a chart that fails its checksum fails here, before anything is applied
    steps = _steps(env, rendered, charts or ChartSource(), canary=canary)
    out(f"step 1: loaded {env.path}")
    rendered.write()
    out(f"step 2: rendered {len(rendered.files)} files into {rendered.directory}")
    # each release's manifest before and after its upgrade, through the API (no helm command); not with
    # --no-wait, which reads nothing of the cluster
    Runner(env, out, releases=release_changes.reader(lambda: client(env)) if wait else None).run(steps)
    if wait:
        # before the wait, which a PVC kept at its old class may fail: the warning is printed either way
        claims.check(env, rendered, out)
        wait_ready(env, steps, rendered, out)


def _template(
    env: Environment, rendered: RenderedSet, charts: ChartSource, out: Callable[[str], None], canary: bool = False
) -> None:
    """Every release through ``helm template`` (pinned helm) with the values files, in a scratch directory."""
    with tempfile.TemporaryDirectory(prefix="obsconf-plan-") as scratch:
        scratch_set = RenderedSet(Path(scratch), rendered.files)
        scratch_set.write()
        for release in releases(_steps(env, scratch_set, charts, require_secrets=False, canary=canary)):
            try:
                objects = template(release, pins.KUBERNETES_VERSION)
            except RenderError as e:
                raise DeployError(env.mask(str(e))) from e
            kinds = sorted({str(o.get("kind")) for o in objects})
            out(f"  helm template {release.name}: {len(objects)} objects ({', '.join(kinds)})")


def plan(
    env: Environment,
    out: Callable[[str], None] = print,
    show_manifests: bool = True,
    charts: ChartSource | None = None,
    render_charts: bool = False,
    canary: bool = False,
) -> None:
    rendered = _checked(env)
    source = charts or ChartSource()
    out(f"step 1: load {env.path}")
    out(f"step 2: render {len(rendered.files)} files into {rendered.directory} (charts from {source.describe()})")
    Runner(env, out, dry_run=True).run(_steps(env, rendered, source, require_secrets=False, canary=canary))
    if render_charts:
        out(f"releases rendered with the charts from {source.describe()}, Kubernetes {pins.KUBERNETES_VERSION}:")
        _template(env, rendered, source, out, canary=canary)
    if show_manifests:
        for name, text in rendered.files.items():
            out(f"--- {rendered.path(name)}")
            out(env.mask(text))


def diff_actions(steps: list[Step], helm_diff: bool) -> list[Action]:
    """What ``diff`` runs: for every action of ``up``'s steps, its diff (``kubectl diff`` of each
    manifest it applies; ``helm diff upgrade`` of each release when ``helm_diff``). Secrets piped on
    stdin are not compared: their values are never shown."""
    return [
        Action(action.diff)
        for step in steps
        for action in step.actions
        if action.diff is not None and (helm_diff or action.release is None)
    ]


def diff(
    env: Environment, out: Callable[[str], None] = print, charts: ChartSource | None = None, canary: bool = False
) -> None:
    """``kubectl diff`` for raw manifests; ``helm diff`` for releases where helm (and its plugin) is installed."""
    rendered = _checked(env)
    rendered.write()
    tools = Tools(env, charts)
    runner = Runner(env, out)
    steps = _steps(env, rendered, tools.charts, require_secrets=False, canary=canary)
    for action in diff_actions(steps, tools.helm.on_path()):
        try:
            runner.run([Step(0, "diff", (action,))])
        except DeployError as e:
            # kubectl diff exits 1 when there are differences: that is the answer, not a failure
            out(f"  {e}")
    # what no diff shows: a StatefulSet's volumeClaimTemplate our values change, which Kubernetes cannot
    claims.check(env, rendered, out)


def down(env: Environment, delete_data: bool, out: Callable[[str], None] = print, canary: bool = False) -> list[str]:
    rendered = _checked(env)
    rendered.write()
    steps, kept = down_plan(env, rendered, delete_data, canary=canary)
    Runner(env, out).run(steps)
    if kept:
        out(f"kept {len(kept)} PVCs (and the namespace) with their data; --delete-data removes them:")
        for name in kept:
            out(f"  {env.text('NAMESPACE')}/{name}")
    return kept
