"""The local stack's rendered configs carry the env's values and the design's routing, and no secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from obs_conformance.deployer.cluster.operator_config import cluster_config
from obs_conformance.deployer.engine.layout import Layout
from obs_conformance.deployer.targets.stack.components import listen_addresses, render_configs, scrape_jobs
from obs_conformance.envconf import load_environment
from tests.cluster_render import CHARTS

WEBHOOK = "http://127.0.0.1:18080/services/T0CONFORM/B0CONFORM/0123456789abcdef01234567"


@pytest.fixture
def rendered(tmp_path: Path) -> dict[str, Any]:
    env = load_environment("local", environ={"POSTGRES_EXPORTER_PASSWORD": "pg-secret-value"})
    layout = Layout(tmp_path)
    layout.create()
    webhook = layout.secrets / "slack_webhook_url"
    webhook.write_text(WEBHOOK)
    configs = render_configs(env, layout, webhook, cluster_config(env, CHARTS))
    texts = {c.path.name: c.text for c in configs}
    for text in texts.values():
        assert "0123456789abcdef01234567" not in text and "pg-secret-value" not in text
    parsed = {name: yaml.safe_load(text) for name, text in texts.items() if name != "nginx.conf"}  # not YAML
    # the rendered rule files; the canary's glob (canary/rules/*.yaml) holds a file only while a canary runs
    rule_files = [parsed[Path(p).name] for p in parsed["prometheus.yml"]["rule_files"] if "*" not in p]
    return parsed | {"_webhook": str(webhook), "_rule_groups": [g for f in rule_files for g in f["groups"]]}


def test_collector_adds_cluster_and_environment_and_limits_memory(rendered: dict[str, Any]) -> None:
    collector = rendered["otelcol.yaml"]
    attributes = {a["key"]: (a["value"], a["action"]) for a in collector["processors"]["resource"]["attributes"]}
    assert attributes == {"cluster": ("local", "upsert"), "environment": ("local", "upsert")}
    for signal in ("traces", "logs", "metrics"):
        processors = collector["service"]["pipelines"][signal]["processors"]
        assert processors[0] == "memory_limiter" and processors[-1] == "batch" and "resource" in processors
    assert collector["exporters"]["otlp_http/logs"]["logs_endpoint"].endswith("/insert/opentelemetry/v1/logs")
    assert collector["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "127.0.0.1:4317"


def test_alertmanager_routes_watchdog_and_infoinhibitor_to_null(rendered: dict[str, Any]) -> None:
    """The cluster's config (chart values, then the operator's merge of the test namespace's
    AlertmanagerConfig), every Slack URL the local webhook file."""
    am = rendered["alertmanager.yml"]
    assert am["route"]["receiver"] == "slack-monitoring"
    nulls = [r["matchers"] for r in am["route"]["routes"] if r["receiver"] == "null"]
    assert nulls == [
        ['alertname = "Watchdog"'],
        ['alertname = "InfoInhibitor"'],
        ['namespace = "obs-conformance-test"'],
    ]
    test_receiver = "obs-conformance-test/obs-conformance/slack-mock"
    assert am["route"]["routes"][0] == {
        "receiver": test_receiver,
        "group_by": ["alertname", "run_id"],
        "continue": True,
        "matchers": ['run_id=~".+"', 'namespace="obs-conformance-test"'],
        "group_wait": "1s",
        "group_interval": "1s",
    }
    assert [r["name"] for r in am["receivers"]] == ["null", "slack-monitoring", test_receiver]
    for name in ("slack-monitoring", test_receiver):
        [slack] = next(r for r in am["receivers"] if r["name"] == name)["slack_configs"]
        assert slack["api_url_file"] == rendered["_webhook"] and "api_url" not in slack
        assert (slack["channel"], slack["send_resolved"]) == ("#monitoring", True)
    assert am["route"]["group_wait"] == "1s"


def test_prometheus_scrapes_every_component_at_the_env_interval(rendered: dict[str, Any]) -> None:
    prom = rendered["prometheus.yml"]
    assert prom["global"]["scrape_interval"] == "1s"
    env = load_environment("local", environ={})
    static = [job for job in prom["scrape_configs"] if "static_configs" in job]  # the canary's job lists itself
    jobs = {job["job_name"]: job["static_configs"][0]["targets"][0] for job in static}
    assert jobs == scrape_jobs(listen_addresses(env))
    assert {"Watchdog", "InfoInhibitor", "TargetDown"} <= {
        rule.get("alert") for group in rendered["_rule_groups"] for rule in group["rules"]
    }
