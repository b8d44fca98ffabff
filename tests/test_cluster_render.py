"""The cluster deploy of dev, kind and kwok rendered with the real pinned charts (helm template).

Each of issue 12's day-one defects has a test here that fails on the old values: it
looks at what the charts render from the deployer's values, not at our templates.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from obs_conformance.deployer import pins
from obs_conformance.deployer.cluster.manifests import POSTGRES_SECRET
from obs_conformance.envconf.stack_facts import LOG_INDEX_LABELS
from tests.cluster_render import CLUSTER_ENVS, ClusterRender, lint_output, rendered

pytestmark = pytest.mark.slow

NAMESPACE = "kube-prometheus-stack"


@pytest.fixture(params=CLUSTER_ENVS)
def deploy(request: pytest.FixtureRequest) -> ClusterRender:
    return rendered(request.param)


def _container(workload: dict[str, Any], name: str) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    found = [c for c in containers if c["name"] == name]
    assert found, (
        f"{workload['kind']} {workload['metadata']['name']}: no container {name} in {[c['name'] for c in containers]}"
    )
    return dict(found[0])


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def _paths(tree: Any, prefix: str = "") -> set[str]:
    """Every key path of a YAML tree, dotted (lists by their items)."""
    if isinstance(tree, dict):
        out: set[str] = set()
        for key, value in tree.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            out |= {path} | _paths(value, path)
        return out
    if isinstance(tree, list):
        return set().union(*(_paths(item, prefix) for item in tree)) if tree else set()
    return set()


def test_every_release_of_every_env_lints_clean(deploy: ClusterRender) -> None:
    for release in deploy.releases.values():
        out = lint_output(release)
        assert "0 chart(s) failed" in out, f"{deploy.env.name}/{release.name}: {out}"
        assert "[WARNING]" not in out and "[ERROR]" not in out, f"{deploy.env.name}/{release.name}: {out}"


# 1. postgres-exporter: the chart runs tpl on the datasource port, which must be a string.
def test_postgres_exporter_renders_its_datasource(deploy: ClusterRender) -> None:
    exporter = deploy.one("Deployment", "postgres-exporter-prometheus-postgres-exporter", "postgres-exporter")
    env = _env(_container(exporter, "prometheus-postgres-exporter"))
    host = deploy.env.text("POSTGRES_HOST")
    port = deploy.env.values["POSTGRES_PORT"]
    database = deploy.env.text("POSTGRES_DATABASE")
    sslmode = "require" if deploy.env.target == "scaleway" else "disable"
    assert env["DATA_SOURCE_URI"] == f"{host}:{port}/{database}?sslmode={sslmode}"
    assert env["DATA_SOURCE_PASS"] == {"secretKeyRef": {"name": POSTGRES_SECRET, "key": "password"}}


# 2. Loki 3 reads its config strictly: no Loki 2 key may reach it, and the tsdb index needs its directories.
LOKI_2_ONLY = (
    "compactor.shared_store",
    "storage_config.boltdb_shipper.shared_store",
    "ingester.max_transfer_retries",
    "limits_config.enforce_metric_name",
    "chunk_store_config.max_look_back_period",
)


def test_loki_gets_a_loki_3_config(deploy: ClusterRender) -> None:
    config = yaml.safe_load(deploy.secret_file("loki-stack", "loki.yaml", "loki-stack"))
    paths = _paths(config)
    assert not paths & set(LOKI_2_ONLY), f"Loki 2 keys Loki 3 rejects: {sorted(paths & set(LOKI_2_ONLY))}"
    shipper = config.get("storage_config", {}).get("tsdb_shipper", {})
    prefix = config.get("common", {}).get("path_prefix")
    assert prefix or (shipper.get("active_index_directory") and shipper.get("cache_location")), config
    periods = config["schema_config"]["configs"]
    assert [(p["store"], p["schema"]) for p in periods] == [("tsdb", "v13")], periods
    limits = config["limits_config"]
    assert limits["allow_structured_metadata"] is True and limits["retention_period"] == "720h"
    assert config["compactor"]["retention_enabled"] is True and config["compactor"]["delete_request_store"]
    attributes = limits["otlp_config"]["resource_attributes"]["attributes_config"][0]
    # the same index labels as the local log store's stream fields (the local collector's VL-Stream-Fields)
    assert tuple(attributes["attributes"]) == LOG_INDEX_LABELS, attributes
    [loki] = deploy.find("StatefulSet", "loki-stack", "loki-stack")
    image = _container(loki, "loki")["image"]
    assert image == f"grafana/loki:{pins.LOKI_IMAGE_TAG}" and pins.LOKI_IMAGE_TAG.startswith("3.")


# 3. One collector version: the operator runs collectors at the version the local stack builds.
def test_operator_runs_the_collector_version_of_the_local_stack(deploy: ClusterRender) -> None:
    operator = deploy.one("Deployment", "opentelemetry-operator", "opentelemetry-operator")
    args = _container(operator, "manager")["args"]
    image = f"--collector-image={pins.COLLECTOR_IMAGE}:{pins.OTELCOL_VERSION.lstrip('v')}"
    assert image in args, f"operator args {args}"


# 4. Tempo's metrics generator: processors in the overrides, exemplars on its remote write.
def test_tempo_generates_span_metrics_and_service_graphs_with_exemplars(deploy: ClusterRender) -> None:
    configmap = deploy.one("ConfigMap", "tempo", "tempo")
    config = yaml.safe_load(configmap["data"]["tempo.yaml"])
    processors = config["overrides"]["defaults"]["metrics_generator"]["processors"]
    assert set(processors) == {"span-metrics", "service-graphs"}
    [remote] = config["metrics_generator"]["storage"]["remote_write"]
    assert remote["send_exemplars"] is True
    prometheus = deploy.one("Prometheus", "prom-stack-kube-prometheus-prometheus", "prom-stack")
    service = deploy.one("Service", "prom-stack-kube-prometheus-prometheus", "prom-stack")
    assert remote["url"] == f"http://{service['metadata']['name']}.{NAMESPACE}:9090/api/v1/write"
    assert prometheus["spec"]["enableRemoteWriteReceiver"] is True
    assert "exemplar-storage" in prometheus["spec"]["enableFeatures"]
    receivers = config["distributor"]["receivers"]
    assert receivers["otlp"]["protocols"]["grpc"]["endpoint"].endswith(":4317")
    assert "opencensus" not in receivers


# 5. Promtail stores the message, as the local log agent does (body == message).
def test_promtail_parses_json_and_stores_the_message(deploy: ClusterRender) -> None:
    config = yaml.safe_load(deploy.secret_file("loki-stack-promtail", "promtail.yaml", "loki-stack"))
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "kubernetes-pods"]
    stages = [next(iter(stage)) for stage in job["pipeline_stages"]]
    assert stages.index("cri") < stages.index("drop") < stages.index("json") < stages.index("output"), stages
    by_name = {next(iter(stage)): next(iter(stage.values())) for stage in job["pipeline_stages"]}
    assert set(by_name["json"]["expressions"]) == {"level", "message", "traceID", "stack_trace"}
    assert by_name["output"] == {"source": "message"}
    assert "healthz" in by_name["drop"]["expression"]
    targets = {r.get("target_label") for r in job["relabel_configs"]}
    assert {"namespace", "team", "environment"} <= targets
    assert config["clients"][0]["url"] == "http://loki-stack:3100/loki/api/v1/push"


# 9. No Grafana with the chart's default admin password.
def test_no_grafana_with_a_default_password(deploy: ClusterRender) -> None:
    assert not deploy.find("Deployment", "prom-stack-grafana"), "Grafana is deployed"
    for where, doc in deploy.objects():
        if doc.get("kind") == "Secret":
            assert "admin-password" not in {**doc.get("data", {}), **doc.get("stringData", {})}, (
                where,
                doc["metadata"],
            )


def test_sizes_classes_issuer_and_hosts_reach_the_rendered_objects(deploy: ClusterRender) -> None:
    env = deploy.env
    storage_class = env.text("STORAGE_CLASS")
    prometheus = deploy.one("Prometheus", "prom-stack-kube-prometheus-prometheus", "prom-stack")
    claim = prometheus["spec"]["storage"]["volumeClaimTemplate"]["spec"]
    assert (claim["storageClassName"], claim["resources"]["requests"]["storage"]) == (
        storage_class, str(env.quantity("PROMETHEUS_STORAGE_SIZE")))  # fmt: skip
    alertmanager = deploy.one("Alertmanager", "prom-stack-kube-prometheus-alertmanager", "prom-stack")
    claim = alertmanager["spec"]["storage"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == str(env.quantity("ALERTMANAGER_STORAGE_SIZE"))
    for release, name, key in (("loki-stack", "loki-stack", "LOKI"), ("tempo", "tempo", "TEMPO")):
        [workload] = deploy.find("StatefulSet", name, release)
        [template] = workload["spec"]["volumeClaimTemplates"]
        assert template["metadata"]["name"] == "storage"
        assert template["spec"]["storageClassName"] == storage_class
        assert template["spec"]["resources"]["requests"]["storage"] == str(env.quantity(f"{key}_STORAGE_SIZE"))
    ingresses = deploy.find("Ingress")
    hosts = {rule["host"] for ingress in ingresses for rule in ingress["spec"]["rules"]}
    assert hosts == {env.host(s) for s in ("prometheus", "alertmanager", "loki", "tempo")}
    for ingress in ingresses:
        assert ingress["spec"]["ingressClassName"] == env.text("INGRESS_CLASS")
        assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == env.text("CLUSTER_ISSUER")
        assert [h for tls in ingress["spec"]["tls"] for h in tls["hosts"]] == [
            r["host"] for r in ingress["spec"]["rules"]
        ]
    [ingress_class] = deploy.find("IngressClass", release="ingress-nginx")
    assert ingress_class["metadata"]["name"] == env.text("INGRESS_CLASS")
    assert ingress_class["spec"]["controller"] == f"k8s.io/{env.text('INGRESS_CLASS')}"
    [issuer] = deploy.find("ClusterIssuer", env.text("CLUSTER_ISSUER"))
    assert ("acme" in issuer["spec"]) == (env.text("ISSUER_TYPE") == "acme")


def test_resources_reach_the_workloads(deploy: ClusterRender) -> None:
    env = deploy.env

    def wanted(component: str) -> dict[str, dict[str, str]]:
        return {
            "requests": {"cpu": env.text(f"{component}_CPU_REQUEST"), "memory": str(env.quantity(f"{component}_MEMORY_REQUEST"))},
            "limits": {"cpu": env.text(f"{component}_CPU_LIMIT"), "memory": str(env.quantity(f"{component}_MEMORY_LIMIT"))},
        }  # fmt: skip

    prometheus = deploy.one("Prometheus", "prom-stack-kube-prometheus-prometheus", "prom-stack")
    assert prometheus["spec"]["resources"] == wanted("PROMETHEUS")
    alertmanager = deploy.one("Alertmanager", "prom-stack-kube-prometheus-alertmanager", "prom-stack")
    assert alertmanager["spec"]["resources"] == wanted("ALERTMANAGER")
    [loki] = deploy.find("StatefulSet", "loki-stack", "loki-stack")
    assert _container(loki, "loki")["resources"] == wanted("LOKI")
    [tempo] = deploy.find("StatefulSet", "tempo", "tempo")
    assert _container(tempo, "tempo")["resources"] == wanted("TEMPO")
    exporter = deploy.one("Deployment", "postgres-exporter-prometheus-postgres-exporter", "postgres-exporter")
    assert _container(exporter, "prometheus-postgres-exporter")["resources"] == wanted("POSTGRES_EXPORTER")
    collector = deploy.one("OpenTelemetryCollector", "otel-collector", "kubectl")
    assert collector["spec"]["resources"] == wanted("OTEL_COLLECTOR")


def test_alertmanager_config_keeps_null_routes_and_slack_channel(deploy: ClusterRender) -> None:
    config = yaml.safe_load(
        deploy.secret_file("alertmanager-prom-stack-kube-prometheus-alertmanager", "alertmanager.yaml", "prom-stack")
    )
    nulls = {m for r in config["route"]["routes"] if r["receiver"] == "null" for m in r["matchers"]}
    assert nulls == {'alertname = "Watchdog"', 'alertname = "InfoInhibitor"',
                     f'namespace = "{deploy.env.text("TEST_NAMESPACE")}"'}  # fmt: skip
    [slack] = next(r for r in config["receivers"] if r["name"] == "slack-monitoring")["slack_configs"]
    assert slack["channel"] == deploy.env.text("SLACK_CHANNEL") and slack["send_resolved"] is True
    assert "api_url" not in slack and slack["api_url_file"].endswith("/url")
    alertmanager = deploy.one("Alertmanager", "prom-stack-kube-prometheus-alertmanager", "prom-stack")
    assert "alertmanager-slack-webhook" in alertmanager["spec"]["secrets"]
    assert any(rule.get("target_matchers") for rule in config.get("inhibit_rules", [])) or "inhibit_rules" in config


# 8 (kind) and the kwok target: what each kind of cluster needs from the deploy.
def test_no_load_balancer_where_there_is_none(deploy: ClusterRender) -> None:
    types = {
        doc["metadata"]["name"]: doc["spec"].get("type", "ClusterIP")
        for _, doc in deploy.objects()
        if doc.get("kind") == "Service"
    }
    controller = types["ingress-nginx-controller"]
    if deploy.env.target == "scaleway":
        assert controller == "LoadBalancer"
    else:
        assert "LoadBalancer" not in types.values(), types
    if deploy.env.target == "kind":
        assert controller == "NodePort"
        nginx = deploy.one("Deployment", "ingress-nginx-controller", "ingress-nginx")
        ports = {p["containerPort"]: p.get("hostPort") for p in _container(nginx, "controller")["ports"]}
        assert ports[80] == 80 and ports[443] == 443
        assert nginx["spec"]["template"]["spec"]["nodeSelector"]["ingress-ready"] == "true"
        kind = yaml.safe_load(deploy.files["kind-cluster.yaml"])
        [node] = kind["nodes"]
        assert "ingress-ready=true" in node["kubeadmConfigPatches"][0]
        assert {(m["containerPort"], m["listenAddress"]) for m in node["extraPortMappings"]} == {
            (80, "127.0.0.1"), (443, "127.0.0.1")}  # fmt: skip


def test_cert_manager_is_installed_before_the_issuer_on_kind(deploy: ClusterRender) -> None:
    if deploy.env.target != "kind":
        assert "cert-manager" not in deploy.releases
        return
    crds = {
        doc["metadata"]["name"] for doc in deploy.manifests["cert-manager"] if doc["kind"] == "CustomResourceDefinition"
    }
    assert "clusterissuers.cert-manager.io" in crds and "certificates.cert-manager.io" in crds
    order = list(deploy.releases)
    assert order.index("cert-manager") < order.index("prom-stack")


def test_postgres_host_is_served_where_the_deployer_runs_it(deploy: ClusterRender) -> None:
    host = deploy.env.text("POSTGRES_HOST")
    if deploy.env.target == "scaleway":
        assert not deploy.find("StatefulSet", "postgres") and "." in host
        return
    service = deploy.one("Service", host.split(".")[0], "kubectl")
    assert host in {f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local"}
    assert service["spec"]["ports"][0]["port"] == deploy.env.values["POSTGRES_PORT"]
    postgres = deploy.one("StatefulSet", service["metadata"]["name"], "kubectl")
    env = _env(_container(postgres, "postgres"))
    assert env["POSTGRES_PASSWORD"] == {"secretKeyRef": {"name": POSTGRES_SECRET, "key": "password"}}
    assert env["POSTGRES_USER"] == deploy.env.text("POSTGRES_EXPORTER_USER")
    assert postgres["spec"]["selector"]["matchLabels"].items() <= service["spec"]["selector"].items()


def test_webhooks_only_where_something_serves_them(deploy: ClusterRender) -> None:
    webhooks = [(where, doc["metadata"]["name"]) for where, doc in deploy.objects()
                if doc.get("kind") in {"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"}]  # fmt: skip
    if deploy.env.target == "kwok":
        assert webhooks == []
        collector = deploy.one("OpenTelemetryCollector", "otel-collector", "kubectl")
        assert collector["spec"]["upgradeStrategy"] == "automatic"
    else:
        assert {where for where, _ in webhooks} >= {"prom-stack", "opentelemetry-operator"}


def test_secrets_never_reach_rendered_files_or_manifests(deploy: ClusterRender) -> None:
    from tests.cluster_render import SECRETS

    # JSON keeps every string whole on one line (a YAML dump folds long ones) and escapes
    # none of the secrets' characters, so a secret anywhere in a manifest shows as itself.
    assert all(json.dumps(secret, ensure_ascii=False) == f'"{secret}"' for secret in SECRETS.values())
    texts = [*deploy.files.values(), *(json.dumps(docs, ensure_ascii=False) for docs in deploy.manifests.values())]
    for text in texts:
        for secret in SECRETS.values():
            assert secret not in text


def test_backends_run_the_versions_the_local_tools_are_pinned_at(deploy: ClusterRender) -> None:
    """promtool/amtool/otelcol validate what these images run: the versions must be the same."""
    prometheus = deploy.one("Prometheus", "prom-stack-kube-prometheus-prometheus", "prom-stack")
    assert prometheus["spec"]["image"].endswith(f":v{pins.PROMETHEUS_VERSION}")
    alertmanager = deploy.one("Alertmanager", "prom-stack-kube-prometheus-alertmanager", "prom-stack")
    assert alertmanager["spec"]["image"].endswith(f":v{pins.ALERTMANAGER_VERSION}")
    [tempo] = deploy.find("StatefulSet", "tempo", "tempo")
    assert _container(tempo, "tempo")["image"].startswith("grafana/tempo:2.8.")
