"""The design's deploy steps as data: commands a runner executes or a plan prints.

Building the plan touches nothing, so ``plan`` and ``up`` print the very same
commands, and two ``up`` runs issue identical command lists (idempotent by
construction: ``helm upgrade --install`` and ``kubectl apply``, never create).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field

from obs_conformance.deployer import pins
from obs_conformance.deployer.cluster.manifests import (
    CERT_MANAGER_NAMESPACE,
    CERT_MANAGER_VALUES,
    KIND_CLUSTER,
    POSTGRES_MANIFEST,
    POSTGRES_SECRET,
    SLACK_SECRET,
    RenderedSet,
    target,
)
from obs_conformance.deployer.engine.layout import Layout
from obs_conformance.deployer.toolchain.charts import ChartSource
from obs_conformance.envconf import Environment, Secret
from obs_conformance.envconf.stack_facts import PVCS as STACK_PVCS

PVCS = tuple(STACK_PVCS.values())
KIND_SLACK_MOCK_URL = "http://slack-mock.obs-conformance-test.svc:8080/services/TKIND/BKIND/kind-mock-hook"


@dataclass(frozen=True)
class Command:
    """One helm/kubectl/kind call; ``stdin`` (a Secret manifest) is never printed."""

    argv: tuple[str, ...]
    stdin: Secret | None = None
    skip_if_listed: tuple[tuple[str, ...], str] | None = None  # (probe argv, name): skip when probe lists name

    def shown(self) -> str:
        text = " ".join(self.argv)
        if self.stdin is not None:
            text += " < (Secret manifest, values ****)"
        if self.skip_if_listed is not None:
            probe, name = self.skip_if_listed
            text += f"   # only if `{' '.join(probe)}` does not list {name}"
        return text


@dataclass(frozen=True)
class Step:
    number: int
    title: str
    commands: tuple[Command, ...] = field(default_factory=tuple)


def _secret_manifest(name: str, namespace: str, data: dict[str, str]) -> Secret:
    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "stringData": data,
    }
    return Secret(json.dumps(manifest))


class Tools:
    """helm and kubectl with the env's context, so every command targets the same cluster."""

    def __init__(self, env: Environment, charts: ChartSource | None = None) -> None:
        context = str(env.values.get("KUBE_CONTEXT", ""))
        kubeconfig = (
            ("--kubeconfig", str(env.repo_path("KUBECONFIG_FILE"))) if env.values.get("KUBECONFIG_FILE") else ()
        )
        self.kube = (*kubeconfig, *(("--context", context) if context else ()))
        self.helm_ctx = (*kubeconfig, *(("--kube-context", context) if context else ()))
        self.charts = charts or ChartSource()

    def apply(self, path: str) -> Command:
        return Command(("kubectl", *self.kube, "apply", "-f", path))

    def apply_secret(self, secret: Secret) -> Command:
        return Command(("kubectl", *self.kube, "apply", "-f", "-"), stdin=secret)

    def helm(self, release: str, chart_name: str, namespace: str, *values: str) -> Command:
        return Command(
            (
                "helm", *self.helm_ctx, "upgrade", "--install", release, *self.charts.reference(chart_name),
                "--namespace", namespace, "--create-namespace", "--wait", "--timeout", pins.HELM_TIMEOUT, *values,
            )
        )  # fmt: skip


def slack_webhook(env: Environment) -> Secret:
    """The production webhook from the secrets; on kind, the in-cluster Slack mock; on kwok (whose
    Alertmanager never runs) a hook of the local Slack mock."""
    if env.target == "kind" and "SLACK_WEBHOOK_URL" not in env.secrets:
        return Secret(KIND_SLACK_MOCK_URL)
    if env.target == "kwok" and "SLACK_WEBHOOK_URL" not in env.secrets:
        return Secret(f"{env.text('SLACK_MOCK_URL')}/services/TKWOK/BKWOK/kwok-mock-hook")
    return env.secret("SLACK_WEBHOOK_URL")


def kwok_postgres_password() -> Secret:
    """On kwok (nothing connects to its PostgreSQL) a password generated once into the control
    plane's secrets directory (0600), so a second ``up`` applies the same Secret."""
    path = Layout(Layout.default().root / "kube").secrets / "postgres_exporter_password"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(18) + "\n")
        path.chmod(0o600)
    return Secret(path.read_text().strip())


def _secret(env: Environment, key: str, required: bool) -> Secret:
    if required or key in env.secrets:
        return env.secret(key)
    return Secret(f"<{key} not set>")


def up_plan(
    env: Environment, rendered: RenderedSet, require_secrets: bool = True, charts: ChartSource | None = None
) -> list[Step]:
    """Steps 3-11 of the design's deploy.sh (1 and 2, load and render, happen before).

    With ``require_secrets`` (``up``) a missing secret is an error before anything
    runs; a ``plan`` shows the steps anyway. What a target lacks is added to the step
    that needs it: the kind cluster (0), cert-manager before the ClusterIssuer (5), the
    PostgreSQL ``POSTGRES_HOST`` names before its exporter (8).
    """
    tools = Tools(env, charts)
    profile = target(env)
    ns = env.text("NAMESPACE")

    def f(name: str) -> str:
        return str(rendered.path(name))

    ingress_class = env.text("INGRESS_CLASS")
    steps: list[Step] = []
    if profile.kind_cluster:
        cluster = env.text("CLUSTER_NAME")
        probe = ("kind", "get", "clusters")
        create = Command(
            ("kind", "create", "cluster", "--name", cluster, "--config", f(KIND_CLUSTER), "--wait", "180s"),
            skip_if_listed=(probe, cluster),
        )
        steps.append(Step(0, "create the kind cluster if absent", (create,)))
    webhook = (
        slack_webhook(env) if require_secrets or env.target == "kind" else _secret(env, "SLACK_WEBHOOK_URL", False)
    )
    if env.target == "kwok" and require_secrets and "POSTGRES_EXPORTER_PASSWORD" not in env.secrets:
        password = kwok_postgres_password()
    else:
        password = _secret(env, "POSTGRES_EXPORTER_PASSWORD", require_secrets)
    slack = _secret_manifest(SLACK_SECRET, ns, {"url": webhook.reveal()})
    postgres = _secret_manifest(POSTGRES_SECRET, ns, {"password": password.reveal()})
    issuer: tuple[Command, ...] = (tools.apply(f("cluster-issuer.yaml")),)
    if profile.cert_manager:
        issuer = (
            tools.helm("cert-manager", "cert-manager", CERT_MANAGER_NAMESPACE, "--values", f(CERT_MANAGER_VALUES)),
            *issuer,
        )
    exporter: tuple[Command, ...] = (
        tools.apply_secret(postgres),
        tools.helm(
            "postgres-exporter", "prometheus-postgres-exporter", ns, "--values", f("postgres-exporter-values.yaml")
        ),
    )
    if profile.own_postgres:
        exporter = (exporter[0], tools.apply(f(POSTGRES_MANIFEST)), exporter[1])
    steps += [
        Step(3, "create the namespace", (tools.apply(f("namespace.yaml")),)),
        Step(4, f"install ingress-nginx with class {ingress_class}", (
            tools.helm("ingress-nginx", "ingress-nginx", "ingress-nginx", "--values", f("ingress-nginx-values.yaml")),
        )),
        Step(5, ("install cert-manager and " if profile.cert_manager else "")
             + f"apply the ClusterIssuer {env.text('CLUSTER_ISSUER')}", issuer),
        Step(6, "install kube-prometheus-stack (release prom-stack)", (
            tools.apply_secret(slack),
            tools.helm("prom-stack", "kube-prometheus-stack", ns, "--values", f("prometheus-values.yaml")),
        )),
        Step(7, "install the OpenTelemetry operator, the collector and the instrumentation", (
            tools.helm("opentelemetry-operator", "opentelemetry-operator", ns,
                       "--values", f("opentelemetry-operator-values.yaml")),
            tools.apply(f("otel-collector.yaml")),
            tools.apply(f("instrumentation.yaml")),
        )),
        Step(8, "install the Postgres exporter with its secret", exporter),
        Step(9, "apply the ServiceMonitors and the conformance rules", (
            tools.apply(f("service-monitors.yaml")),
            tools.apply(f("conformance-rules.yaml")),
        )),
        Step(10, "install loki-stack (release loki-stack)", (
            tools.helm("loki-stack", "loki-stack", ns, "--values", f("loki-values.yaml")),
        )),
        Step(11, "install tempo and its ingress", (
            tools.helm("tempo", "tempo", ns, "--values", f("tempo-values.yaml")),
            tools.apply(f("tempo-ingress.yaml")),
        )),
    ]  # fmt: skip
    return steps


def down_plan(env: Environment, rendered: RenderedSet, delete_data: bool) -> tuple[list[Step], list[str]]:
    """Releases and manifests removed in reverse order; PVCs kept unless ``delete_data``.

    The namespace is never deleted: that would delete the PVCs with it.
    Returns the steps and the PVCs kept.
    """
    tools = Tools(env)
    ns = env.text("NAMESPACE")

    def uninstall(release: str, namespace: str = ns) -> Command:
        return Command(
            ("helm", *tools.helm_ctx, "uninstall", release, "--namespace", namespace, "--wait", "--ignore-not-found")
        )

    def delete(name: str) -> Command:
        return Command(("kubectl", *tools.kube, "delete", "--ignore-not-found", "-f", str(rendered.path(name))))

    steps = [
        Step(11, "remove tempo", (delete("tempo-ingress.yaml"), uninstall("tempo"))),
        Step(10, "remove loki-stack", (uninstall("loki-stack"),)),
        Step(9, "remove the ServiceMonitors and the conformance rules", (
            delete("conformance-rules.yaml"), delete("service-monitors.yaml"),
        )),
        Step(8, "remove the Postgres exporter", (
            uninstall("postgres-exporter"), *((delete(POSTGRES_MANIFEST),) if target(env).own_postgres else ()),
        )),
        Step(7, "remove the collector, instrumentation and operator", (
            delete("instrumentation.yaml"), delete("otel-collector.yaml"), uninstall("opentelemetry-operator"),
        )),
        Step(6, "remove kube-prometheus-stack", (uninstall("prom-stack"),)),
    ]  # fmt: skip
    kept = list(PVCS)
    if delete_data:
        pvc_delete = Command(("kubectl", *tools.kube, "delete", "pvc", "--namespace", ns, "--ignore-not-found", *PVCS))
        steps.append(Step(12, "delete the data (--delete-data)", (pvc_delete,)))
        kept = []
    return steps, kept
