"""Snapshots that would let a broken upgrade compare clean are refused: empty, another env's, this run's."""

from __future__ import annotations

from pathlib import Path

import pytest

from obs_conformance.fixtures.snapshot import compare, unusable
from tests.breakage import local_configs, prometheus_with, run_suites_with

GOOD = {
    "env": "local",
    "run_id": "aaaa",
    "targets_up": {"node-exporter": 1},
    "series_per_job": {"node-exporter": 1000},
    "unhealthy_rules": [],
    "pvcs": {},
    "certificates": {},
    "versions": {},
}


def test_an_empty_snapshot_compares_clean_with_anything_so_it_is_unusable() -> None:
    empty = {**GOOD, "targets_up": {}, "series_per_job": {}}
    nothing_left = {**GOOD, "targets_up": {}, "series_per_job": {}}
    assert compare(empty, nothing_left, 0.2).regressions == []  # why an empty baseline must be refused
    assert unusable(empty, "local", "bbbb") == [
        "it holds no scrape target up (Prometheus was down or empty when it was taken)",
        "it holds no series",
    ]


def test_another_envs_or_this_runs_snapshot_is_unusable() -> None:
    assert unusable(GOOD, "local", "bbbb") == []
    assert unusable(GOOD, "dev", "bbbb") == ["it was taken on env 'local', this run is on 'dev'"]
    assert unusable(GOOD, "local", "aaaa") == [
        "it was taken by this same run (--snapshot and --compare of one NAME in one run)"
    ]


@pytest.mark.stack
@pytest.mark.slow
@pytest.mark.usefixtures("stack")
def test_snapshot_and_compare_in_one_run_fails(tmp_path: Path) -> None:
    snapshots = str(tmp_path / "snapshots")
    result = run_suites_with(
        tmp_path, {}, "suites/test_upgrade.py", "--snapshot", "x", "--compare", "x", "--snapshot-dir", snapshots
    )
    assert result.returncode == 1, result.stdout[-3000:]
    assert "is no baseline: it was taken by this same run" in result.stdout, result.stdout[-3000:]


@pytest.mark.stack
@pytest.mark.slow
@pytest.mark.usefixtures("stack")
def test_snapshot_of_a_prometheus_with_no_targets_is_refused(tmp_path: Path) -> None:
    configs = local_configs(tmp_path, "http://127.0.0.1:1/services/T/B/x")
    snapshots = tmp_path / "snapshots"
    with prometheus_with(configs["prometheus.yml"], configs["rules.yml"], tmp_path) as url:  # scrapes nothing
        result = run_suites_with(
            tmp_path, {"PROMETHEUS_URL": url}, "suites/test_upgrade.py", "--snapshot", "pre",
            "--snapshot-dir", str(snapshots),
        )  # fmt: skip
    assert result.returncode == 1, result.stdout[-3000:]
    assert "Prometheus: snapshot 'pre' not written, it would prove nothing" in result.stdout, result.stdout[-3000:]
    assert not (snapshots / "local" / "pre.json").exists()
