"""The design's deploy steps as data: commands a runner executes or a plan prints.

Building the plan touches nothing, so ``plan`` and ``up`` print the very same
commands, and two ``up`` runs issue identical command lists (idempotent by
construction: ``helm upgrade --install`` and ``kubectl apply``, never create).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from deployer import pins
from deployer.cluster.manifests import POSTGRES_SECRET, SLACK_SECRET, RenderedSet
from envconf import Environment, Secret
from envconf.stack_facts import PVCS as STACK_PVCS

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

    def __init__(self, env: Environment) -> None:
        context = str(env.values.get("KUBE_CONTEXT", ""))
        self.kube = ("--context", context) if context else ()
        self.helm_ctx = ("--kube-context", context) if context else ()

    def apply(self, path: str) -> Command:
        return Command(("kubectl", *self.kube, "apply", "-f", path))

    def apply_secret(self, secret: Secret) -> Command:
        return Command(("kubectl", *self.kube, "apply", "-f", "-"), stdin=secret)

    def helm(self, release: str, chart_name: str, namespace: str, *values: str) -> Command:
        chart = pins.CHARTS[chart_name]
        return Command(
            (
                "helm", *self.helm_ctx, "upgrade", "--install", release, chart.name,
                "--repo", chart.repo, "--version", chart.version, "--namespace", namespace,
                "--create-namespace", "--wait", "--timeout", pins.HELM_TIMEOUT, *values,
            )
        )  # fmt: skip


def slack_webhook(env: Environment) -> Secret:
    """The production webhook from the secrets; on kind, the in-cluster Slack mock."""
    if env.target == "kind" and "SLACK_WEBHOOK_URL" not in env.secrets:
        return Secret(KIND_SLACK_MOCK_URL)
    return env.secret("SLACK_WEBHOOK_URL")


def _secret(env: Environment, key: str, required: bool) -> Secret:
    if required or key in env.secrets:
        return env.secret(key)
    return Secret(f"<{key} not set>")


def up_plan(env: Environment, rendered: RenderedSet, require_secrets: bool = True) -> list[Step]:
    """Steps 3-11 of the design's deploy.sh (1 and 2, load and render, happen before).

    With ``require_secrets`` (``up``) a missing secret is an error before anything
    runs; a ``plan`` shows the steps anyway.
    """
    tools = Tools(env)
    ns = env.text("NAMESPACE")

    def f(name: str) -> str:
        return str(rendered.path(name))

    ingress_class = env.text("INGRESS_CLASS")
    steps: list[Step] = []
    if env.target == "kind":
        cluster = env.text("CLUSTER_NAME")
        probe = ("kind", "get", "clusters")
        create = Command(
            ("kind", "create", "cluster", "--name", cluster, "--wait", "180s"), skip_if_listed=(probe, cluster)
        )
        steps.append(Step(0, "create the kind cluster if absent", (create,)))
    webhook = (
        slack_webhook(env) if require_secrets or env.target == "kind" else _secret(env, "SLACK_WEBHOOK_URL", False)
    )
    password = _secret(env, "POSTGRES_EXPORTER_PASSWORD", require_secrets)
    slack = _secret_manifest(SLACK_SECRET, ns, {"url": webhook.reveal()})
    postgres = _secret_manifest(POSTGRES_SECRET, ns, {"password": password.reveal()})
    steps += [
        Step(3, "create the namespace", (tools.apply(f("namespace.yaml")),)),
        Step(4, f"install ingress-nginx with class {ingress_class}", (
            tools.helm(
                "ingress-nginx", "ingress-nginx", "ingress-nginx",
                "--set", f"controller.ingressClassResource.name={ingress_class}",
                "--set", f"controller.ingressClassResource.controllerValue=k8s.io/{ingress_class}",
                "--set", f"controller.ingressClass={ingress_class}",
                "--set", f"controller.electionID={ingress_class}-leader",
            ),
        )),
        Step(5, f"apply the ClusterIssuer {env.text('CLUSTER_ISSUER')}", (tools.apply(f("cluster-issuer.yaml")),)),
        Step(6, "install kube-prometheus-stack (release prom-stack)", (
            tools.apply_secret(slack),
            tools.helm("prom-stack", "kube-prometheus-stack", ns, "--values", f("prometheus-values.yaml")),
        )),
        Step(7, "install the OpenTelemetry operator, the collector and the instrumentation", (
            tools.helm("opentelemetry-operator", "opentelemetry-operator", ns,
                       "--set", "manager.collectorImage.repository=otel/opentelemetry-collector-contrib"),
            tools.apply(f("otel-collector.yaml")),
            tools.apply(f("instrumentation.yaml")),
        )),
        Step(8, "install the Postgres exporter with its secret", (
            tools.apply_secret(postgres),
            tools.helm("postgres-exporter", "prometheus-postgres-exporter", ns,
                       "--values", f("postgres-exporter-values.yaml")),
        )),
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
        Step(8, "remove the Postgres exporter", (uninstall("postgres-exporter"),)),
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
