"""The Slack mock for kind/dev: manifests, the test route beside production, and its lifecycle
with kubectl replaced by a stand-in (whose port-forward serves the real mock locally)."""

from __future__ import annotations

import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from obs_conformance.clients.alert_routing import routes_for
from obs_conformance.clients.slack_mock import SlackMockClient
from obs_conformance.deployer.cluster import slack_mock as plan
from obs_conformance.deployer.cluster.footprint import RUN_LABEL
from obs_conformance.deployer.cluster.manifests import render_cluster
from obs_conformance.envconf import load_environment
from obs_conformance.fixtures.slack_mock_cluster import deployed_slack_mock
from obs_conformance.slack_mock import server
from tests.breakage import free_port

ROOT = Path(__file__).resolve().parent.parent

KUBECTL = """#!{python}
import json, os, sys
args = sys.argv[1:]
stdin = sys.stdin.read() if "-" in args else ""
with open(os.environ["RECORD"], "a") as out:
    out.write(json.dumps({{"argv": args, "stdin": stdin[:200]}}) + "\\n")
if "port-forward" in args:
    local = args[-1].split(":")[0]
    os.chdir({root!r})
    os.execv(sys.executable, [sys.executable, "-m", "obs_conformance.slack_mock.server", "--port", local])
"""


def docs(text: str) -> dict[str, Any]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(text)}


def test_manifests_mount_the_mock_script_and_route_test_alerts_to_it() -> None:
    env = load_environment("dev", environ={})
    by_kind = docs(plan.manifests(env, "tok"))
    assert by_kind["ConfigMap"]["data"]["slack_mock.py"] == inspect.getsource(server)
    container = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "python:3.11-slim" and container["command"][1] == "/app/slack_mock.py"
    route = by_kind["AlertmanagerConfig"]["spec"]["route"]
    assert route["matchers"] == [{"name": "run_id", "matchType": "=~", "value": ".+"}]
    [slack] = by_kind["AlertmanagerConfig"]["spec"]["receivers"][0]["slackConfigs"]
    assert slack["apiURL"] == {"name": "slack-mock-hook", "key": "url"} and slack["sendResolved"] is True
    assert slack["channel"] == "#monitoring"
    assert by_kind["Secret"]["stringData"]["url"].startswith(
        "http://slack-mock.obs-conformance-test.svc:8080/services/"
    )


def test_production_route_never_sends_test_alerts_to_slack(tmp_path: Path) -> None:
    env = load_environment("dev", environ={})
    values = yaml.safe_load(render_cluster(env, tmp_path).files["prometheus-values.yaml"])
    config = values["alertmanager"]["config"]
    labels = {
        "alertname": "ConformanceProbe",
        "severity": "critical",
        "namespace": "obs-conformance-test",
        "run_id": "x",
    }
    assert routes_for(config, labels) == ["null"]
    assert routes_for(config, {**labels, "namespace": "odoo"}) == ["slack-monitoring"]


def test_lifecycle_applies_waits_forwards_and_removes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in = bin_dir / "kubectl"
    stand_in.write_text(KUBECTL.format(python=sys.executable, root=str(ROOT)))
    stand_in.chmod(0o755)
    record = tmp_path / "record.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("RECORD", str(record))
    port = free_port()
    env_file = tmp_path / "kind.env"
    source = (ROOT / "environments" / "kind" / "obs-conformance.env").read_text()
    env_file.write_text(
        source.replace('SLACK_MOCK_URL="http://127.0.0.1:18080"', f'SLACK_MOCK_URL="http://127.0.0.1:{port}"')
    )
    env = load_environment(str(env_file), environ={})
    client = SlackMockClient(env.text("SLACK_MOCK_URL"), 5)

    with deployed_slack_mock(env, client, "0123456789") as mock:
        assert mock.ready()

    calls = [json.loads(line) for line in record.read_text().splitlines()]
    verbs = [c["argv"][2] if c["argv"][0] == "--context" else c["argv"][0] for c in calls]
    assert verbs == ["apply", "-n", "-n", "-n"]
    assert calls[0]["stdin"].startswith("# The Slack mock"), "the manifest (with the hook URL) goes through stdin"
    assert "rollout" in calls[1]["argv"] and "port-forward" in calls[2]["argv"]
    # removed by the run's label only, in the test namespace only (the namespace is the run footprint's)
    assert calls[3]["argv"][-9:] == [
        "-n", "obs-conformance-test", "delete", plan.KINDS, "-l", f"{RUN_LABEL}=0123456789",
        "--ignore-not-found", "--wait=true", "--timeout=120s",
    ]  # fmt: skip
    applied = [doc for doc in yaml.safe_load_all(plan.manifests(env, "tok", "0123456789")) if doc]
    assert "Namespace" not in {doc["kind"] for doc in applied}
    unlabelled = [doc["kind"] for doc in applied if doc["metadata"].get("labels", {}).get(RUN_LABEL) != "0123456789"]
    assert not unlabelled, f"objects without the run's label: {unlabelled}"
    assert {doc["metadata"]["namespace"] for doc in applied} == {"obs-conformance-test"}
