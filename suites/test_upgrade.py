"""Pre-upgrade gate: ``--snapshot NAME`` before an upgrade, ``--compare NAME`` after it."""

from __future__ import annotations

from pathlib import Path

import pytest

from obs_conformance.clients.kubernetes import KubernetesClient
from obs_conformance.clients.prometheus import PrometheusClient
from obs_conformance.envconf import Environment
from obs_conformance.fixtures.snapshot import compare, load, save, snapshot_path, take_snapshot, unusable

pytestmark = [pytest.mark.upgrade]


def _cluster(request: pytest.FixtureRequest, env: Environment) -> KubernetesClient | None:
    kube: KubernetesClient | None = request.getfixturevalue("kube") if env.profile.kubernetes else None
    return kube


def _run(run_id: str) -> str:
    """The run's id without the xdist worker: --snapshot and --compare may run on different workers."""
    return run_id.rsplit("-", 1)[0]


def _named_snapshot(request: pytest.FixtureRequest, env: Environment, option: str) -> tuple[str, Path]:
    """The NAME given with ``option`` and its file; the check skips when the option is absent."""
    name = request.config.getoption(option)
    if not name:
        pytest.skip(f"no {option} NAME given")
    return name, snapshot_path(env, name, request.config.getoption("--snapshot-dir"))


def test_snapshot(
    request: pytest.FixtureRequest,
    env: Environment,
    prometheus: PrometheusClient,
    stack: dict[str, str],
    run_id: str,
) -> None:
    """A snapshot of an empty or unreachable stack is refused: any later state would compare clean with it."""
    name, path = _named_snapshot(request, env, "--snapshot")
    snapshot = take_snapshot(env, prometheus, stack, _cluster(request, env), _run(run_id))
    problems = [p for p in unusable(snapshot, env.name, "") if "env" not in p]
    assert not problems, f"Prometheus: snapshot {name!r} not written, it would prove nothing: " + "; ".join(problems)
    save(snapshot, path)
    print(f"snapshot {name!r} written to {path}")


def test_compare_with_snapshot(
    request: pytest.FixtureRequest,
    env: Environment,
    prometheus: PrometheusClient,
    stack: dict[str, str],
    run_id: str,
) -> None:
    name, path = _named_snapshot(request, env, "--compare")
    if not path.is_file():
        pytest.fail(f"no snapshot {name!r} for env {env.name} at {path}: take one with --snapshot {name}")
    before = load(path)
    problems = unusable(before, env.name, _run(run_id))
    assert not problems, f"snapshot {name!r} ({path}, taken {before.get('taken')}) is no baseline: " + "; ".join(
        problems
    )
    result = compare(
        before,
        take_snapshot(env, prometheus, stack, _cluster(request, env), _run(run_id)),
        env.fraction("SNAPSHOT_SERIES_DROP_MAX"),
    )
    for change in result.changes:
        print(f"changed since {name}: {change}")
    assert not result.regressions, f"regressions since snapshot {name!r}:\n  " + "\n  ".join(result.regressions)
