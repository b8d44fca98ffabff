"""Pre-upgrade gate: ``--snapshot NAME`` before an upgrade, ``--compare NAME`` after it."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients.kubernetes import KubernetesClient
from clients.prometheus import PrometheusClient
from envconf import Environment
from fixtures.snapshot import compare, load, save, snapshot_path, take_snapshot

pytestmark = [pytest.mark.upgrade]


def _cluster(request: pytest.FixtureRequest, env: Environment) -> KubernetesClient | None:
    kube: KubernetesClient | None = None if env.is_local else request.getfixturevalue("kube")
    return kube


def _named_snapshot(request: pytest.FixtureRequest, env: Environment, option: str) -> tuple[str, Path]:
    """The NAME given with ``option`` and its file; the check skips when the option is absent."""
    name = request.config.getoption(option)
    if not name:
        pytest.skip(f"no {option} NAME given")
    return name, snapshot_path(env, name, request.config.getoption("--snapshot-dir"))


def test_snapshot(
    request: pytest.FixtureRequest, env: Environment, prometheus: PrometheusClient, stack: dict[str, str]
) -> None:
    name, path = _named_snapshot(request, env, "--snapshot")
    save(take_snapshot(env, prometheus, stack, _cluster(request, env)), path)
    print(f"snapshot {name!r} written to {path}")


def test_compare_with_snapshot(
    request: pytest.FixtureRequest, env: Environment, prometheus: PrometheusClient, stack: dict[str, str]
) -> None:
    name, path = _named_snapshot(request, env, "--compare")
    if not path.is_file():
        pytest.fail(f"no snapshot {name!r} for env {env.name} at {path}: take one with --snapshot {name}")
    result = compare(
        load(path),
        take_snapshot(env, prometheus, stack, _cluster(request, env)),
        env.fraction("SNAPSHOT_SERIES_DROP_MAX"),
    )
    for change in result.changes:
        print(f"changed since {name}: {change}")
    assert not result.regressions, f"regressions since snapshot {name!r}:\n  " + "\n  ".join(result.regressions)
