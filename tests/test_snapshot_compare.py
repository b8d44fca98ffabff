"""A snapshot of the local stack, compared with a Prometheus that lost a scrape target, fails naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from obs_conformance.fixtures.snapshot import compare
from tests.breakage import local_configs, prometheus_with, run_suites_with

BEFORE = {
    "targets_up": {"node-exporter": 1, "prometheus": 1},
    "series_per_job": {"node-exporter": 1000, "prometheus": 500},
    "unhealthy_rules": [],
    "pvcs": {"storage-loki-stack-0": {"uid": "a", "volume": "pv-1"}},
    "certificates": {"loki-tls": "ClusterIssuer/letsencrypt-prod"},
    "versions": {"Prometheus": "2.42.0"},
}


def test_compare_finds_each_regression() -> None:
    after = {
        "targets_up": {"prometheus": 1, "tempo": 1},
        "series_per_job": {"node-exporter": 0, "prometheus": 450},
        "unhealthy_rules": ["general.rules/TargetDown"],
        "pvcs": {"storage-loki-stack-0": {"uid": "b", "volume": "pv-2"}},
        "certificates": {"loki-tls": "ClusterIssuer/selfsigned"},
        "versions": {"Prometheus": "2.53.0"},
    }
    result = compare(BEFORE, after, max_series_drop=0.2)
    assert result.regressions == [
        "target lost: job node-exporter had 1 target(s) up, now 0",
        "series dropped: job node-exporter had 1000 series, now 0 (more than 20% fewer)",
        "rule became unhealthy: general.rules/TargetDown",
        "PVC replaced: storage-loki-stack-0 was {'uid': 'a', 'volume': 'pv-1'}, now {'uid': 'b', 'volume': 'pv-2'} (data of the old volume is not in use)",
        "certificate loki-tls changed issuer: ClusterIssuer/letsencrypt-prod -> ClusterIssuer/selfsigned",
    ]
    assert result.changes == ["Prometheus: 2.42.0 -> 2.53.0", "new job: tempo"]
    assert compare(BEFORE, BEFORE, 0.2).regressions == []


@pytest.mark.stack
@pytest.mark.slow
@pytest.mark.usefixtures("stack")
def test_snapshot_then_compare_detects_a_removed_target(tmp_path: Path) -> None:
    snapshots = str(tmp_path / "snapshots")
    taken = run_suites_with(tmp_path, {}, "suites/test_upgrade.py", "--snapshot", "pre", "--snapshot-dir", snapshots)
    assert taken.returncode == 0, taken.stdout[-2000:]
    configs = local_configs(tmp_path, "http://127.0.0.1:1/services/T/B/x")
    prometheus = configs["prometheus.yml"]
    prometheus["scrape_configs"] = [j for j in prometheus["scrape_configs"] if j["job_name"] != "node-exporter"]
    with prometheus_with(prometheus, configs["rules.yml"], tmp_path, keep_scrapes=True, wait_scrape=True) as url:
        compared = run_suites_with(
            tmp_path, {"PROMETHEUS_URL": url}, "suites/test_upgrade.py", "--compare", "pre", "--snapshot-dir", snapshots
        )
    assert compared.returncode == 1, compared.stdout[-3000:]
    assert "regressions since snapshot 'pre'" in compared.stdout
    assert "target lost: job node-exporter had 1 target(s) up, now 0" in compared.stdout
