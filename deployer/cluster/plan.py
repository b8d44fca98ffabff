"""The design's deploy steps as data: actions whose commands a runner executes or a plan prints.

Building the plan touches nothing, so ``plan`` and ``up`` print the very same
commands, and two ``up`` runs issue identical command lists (idempotent by
construction: ``helm upgrade --install`` and ``kubectl apply``, never create). Each action
also says how ``diff`` compares it, and a helm release is a :class:`Release` that makes its
own commands, so ``up``, ``plan``, ``diff`` and the offline renders walk the same list and
nothing reads a command line back.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from obs_conformance.deployer import pins
from obs_conformance.deployer.cluster.basic_auth import otlp_headers_value
from obs_conformance.deployer.cluster.manifests import (
    CERT_MANAGER_NAMESPACE,
    CERT_MANAGER_VALUES,
    FRONT_DOOR_AUTH_SECRET,
    KIND_CLUSTER,
    OTLP_AUTH_KEY,
    OTLP_AUTH_SECRET,
    OTLP_HEADERS_KEY,
    OTLP_HEADERS_SECRET,
    POSTGRES_MANIFEST,
    POSTGRES_SECRET,
    SLACK_SECRET,
    RenderedSet,
)
from obs_conformance.deployer.engine import htpasswd
from obs_conformance.deployer.engine.layout import REPO_ROOT, Layout
from obs_conformance.deployer.toolchain.charts import ChartSource
from obs_conformance.deployer.toolchain.tools import Command, Helm, KubeTools, Tool, pinned_helm
from obs_conformance.envconf import Environment, Secret
from obs_conformance.envconf.stack_facts import PVCS as STACK_PVCS

PVCS = tuple(STACK_PVCS.values())
KIND_SLACK_MOCK_URL = "http://slack-mock.obs-conformance-test.svc:8080/services/TKIND/BKIND/kind-mock-hook"
kind = Tool("kind")
# the conformance canary's chart, a local path (not a pinned chart of a repository), and its release
CANARY_CHART = REPO_ROOT / "charts" / "obs-conformance-canary"
CANARY_RELEASE = "canary"
CANARY_STEP = 12


@dataclass(frozen=True)
class Release:
    """One helm release of the plan: it makes its own ``upgrade --install``, ``diff`` and ``template``."""

    name: str
    chart: tuple[str, ...]  # the chart reference (ChartSource.reference)
    namespace: str
    values: tuple[str, ...]  # --values FILE options

    def install(self, helm: Helm) -> Command:
        return helm.upgrade_install(self.name, self.chart, self.namespace, self.values, pins.HELM_TIMEOUT)

    def diff(self, helm: Helm) -> Command:
        return helm.diff_upgrade(self.name, self.chart, self.namespace, self.values, pins.HELM_TIMEOUT)

    def template(self, kube_version: str) -> Command:
        return pinned_helm().template(self.name, self.chart, self.namespace, kube_version, self.values)

    def lint(self, kube_version: str) -> Command:
        return pinned_helm().lint(self.chart, self.namespace, kube_version, self.values)


@dataclass(frozen=True)
class Action:
    """What a step does: the command ``up`` runs and the one ``diff`` runs for it (None: nothing to
    compare, e.g. a Secret piped on stdin, whose values are never shown), so both walk one list."""

    command: Command
    diff: Command | None = None
    release: Release | None = None
    manifest: str | None = None  # the rendered file it applies (its objects belong to the step)
    before: Command | None = None  # reads the objects before: the command's JSON output is reported against it
    skip_if_listed: tuple[Command, str] | None = None  # (probe, name): skip when the probe lists name

    def shown(self) -> str:
        text = self.command.shown()
        if self.skip_if_listed is not None:
            probe, name = self.skip_if_listed
            text += f"   # only if `{probe.shown()}` does not list {name}"
        return text


@dataclass(frozen=True)
class Step:
    number: int
    title: str
    actions: tuple[Action, ...] = field(default_factory=tuple)


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
    """helm and kubectl with the env's kubeconfig and context, so every command targets the same cluster."""

    def __init__(self, env: Environment, charts: ChartSource | None = None) -> None:
        kube = KubeTools.of(env)
        self.kubectl = kube.kubectl
        self.helm = kube.helm
        self.charts = charts or ChartSource()

    def apply(self, path: str) -> Action:
        return Action(
            self.kubectl.apply_owned(path),
            diff=self.kubectl.diff_owned(path),
            manifest=Path(path).name,
            before=self.kubectl.get_file(path),
        )

    def apply_secret(self, secret: Secret, name: str, namespace: str) -> Action:
        before = self.kubectl.get_object("secret", name, namespace)
        return Action(self.kubectl.apply_owned_stdin(secret), before=before)

    def install(self, name: str, chart_name: str, namespace: str, *values: str) -> Action:
        return self.install_release(Release(name, self.charts.reference(chart_name), namespace, values))

    def install_release(self, release: Release) -> Action:
        return Action(release.install(self.helm), diff=release.diff(self.helm), release=release)


def slack_webhook(env: Environment) -> Secret:
    """The production webhook from the secrets; on kind, the in-cluster Slack mock; on kwok (whose
    Alertmanager never runs) a hook of the local Slack mock."""
    if env.profile.in_cluster_slack_mock and "SLACK_WEBHOOK_URL" not in env.secrets:
        return Secret(KIND_SLACK_MOCK_URL)
    if env.profile.local_slack_mock and "SLACK_WEBHOOK_URL" not in env.secrets:
        return Secret(f"{env.text('SLACK_MOCK_URL')}/services/TKWOK/BKWOK/kwok-mock-hook")
    return env.secret("SLACK_WEBHOOK_URL")


def _kwok_generated(name: str) -> Secret:
    """A password generated once into the kwok control plane's secrets directory (0600), so a second
    ``up`` applies the same Secret (nothing connects with it there: no pod runs)."""
    path = Layout(Layout.default().root / "kube").secrets / name
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(18) + "\n")
        path.chmod(0o600)
    return Secret(path.read_text().strip())


def kwok_postgres_password() -> Secret:
    """On kwok (nothing connects to its PostgreSQL) the exporter's password, generated once."""
    return _kwok_generated("postgres_exporter_password")


def kwok_ingress_password() -> Secret:
    """On kwok (nothing serves its ingress) the front door's password, generated once like its Postgres one."""
    return _kwok_generated("ingress_auth_password")


def kwok_otlp_password() -> Secret:
    """On kwok (its collector never runs: the suite sends to the local stack's) the OTLP senders' password."""
    return _kwok_generated("otlp_auth_password")


def _htpasswd_line(env: Environment, user: str, password: Secret) -> str:
    """A SHA-512-crypt line; a salt stable per env and user keeps it, and so its Secret, unchanged per ``up``."""
    salt = htpasswd.stable_salt(password.reveal(), f"{env.name}:{user}")
    return htpasswd.htpasswd_line(user, password.reveal(), salt)


def front_door_auth(env: Environment, require_secrets: bool) -> Secret:
    """The htpasswd Secret every ingress names (ingress-nginx ``auth-type: basic``, key ``auth``), from
    INGRESS_AUTH_USER and INGRESS_AUTH_PASSWORD."""
    if env.profile.generated_postgres_password and "INGRESS_AUTH_PASSWORD" not in env.secrets:
        password = kwok_ingress_password()
    else:
        password = _secret(env, "INGRESS_AUTH_PASSWORD", require_secrets)
    line = _htpasswd_line(env, env.front_door_user, password)
    return _secret_manifest(FRONT_DOOR_AUTH_SECRET, env.text("NAMESPACE"), {"auth": line})


def otlp_password(env: Environment, require_secrets: bool = True) -> Secret:
    """What OTLP senders authenticate with on the cluster: OTLP_AUTH_PASSWORD, on kwok one generated once."""
    if env.profile.generated_postgres_password and "OTLP_AUTH_PASSWORD" not in env.secrets:
        return kwok_otlp_password()
    return _secret(env, "OTLP_AUTH_PASSWORD", require_secrets)


def otlp_auth(env: Environment, require_secrets: bool) -> list[tuple[Secret, str, str]]:
    """(manifest, name, namespace) of the OTLP authentication Secrets: the collector's htpasswd in the
    stack namespace (mounted, read by its basicauth extension), and in each app namespace the header
    instrumented pods send (``OTEL_EXPORTER_OTLP_HEADERS``, taken by the Instrumentation's env valueFrom)."""
    user, password = env.otlp_user, otlp_password(env, require_secrets)
    ns = env.text("NAMESPACE")
    found = [(
        _secret_manifest(OTLP_AUTH_SECRET, ns, {OTLP_AUTH_KEY: _htpasswd_line(env, user, password)}),
        OTLP_AUTH_SECRET, ns,
    )]  # fmt: skip
    header = otlp_headers_value(user, password)
    for app in env.app_namespaces:
        found.append((_secret_manifest(OTLP_HEADERS_SECRET, app, {OTLP_HEADERS_KEY: header}), OTLP_HEADERS_SECRET, app))
    return found


def _secret(env: Environment, key: str, required: bool) -> Secret:
    if required or key in env.secrets:
        return env.secret(key)
    return Secret(f"<{key} not set>")


def canary_release(env: Environment) -> Release:
    """The canary chart in the stack's namespace (its ServiceMonitor and PrometheusRule beside the
    stack's), checking this env: the env file's content as ``env.file``, its name as ``env.name``."""
    values = ("--set-file", f"env.file={env.path.resolve()}", "--set", f"env.name={env.name}")
    return Release(CANARY_RELEASE, (str(CANARY_CHART),), env.text("NAMESPACE"), values)


def with_canary(env: Environment, canary: bool) -> bool:
    """``--with-canary``, else the env's ``CANARY="on"``; off by default."""
    return canary or env.canary


def up_plan(
    env: Environment,
    rendered: RenderedSet,
    require_secrets: bool = True,
    charts: ChartSource | None = None,
    canary: bool = False,
) -> list[Step]:
    """Steps 3-11 of the design's deploy.sh (1 and 2, load and render, happen before), then with
    ``canary`` (or ``CANARY="on"``) step 12: the conformance canary's chart.

    With ``require_secrets`` (``up``) a missing secret is an error before anything
    runs; a ``plan`` shows the steps anyway. What a target lacks is added to the step
    that needs it: the kind cluster (0), cert-manager before the ClusterIssuer (5), the
    PostgreSQL ``POSTGRES_HOST`` names before its exporter (8).
    """
    tools = Tools(env, charts)
    profile = env.profile
    ns = env.text("NAMESPACE")

    def f(name: str) -> str:
        return str(rendered.path(name))

    ingress_class = env.text("INGRESS_CLASS")
    steps: list[Step] = []
    if profile.kind_cluster:
        cluster = env.text("CLUSTER_NAME")
        probe = kind("get", "clusters")
        create = Action(
            kind("create", "cluster", "--name", cluster, "--config", f(KIND_CLUSTER), "--wait", "180s"),
            skip_if_listed=(probe, cluster),
        )
        steps.append(Step(0, "create the kind cluster if absent", (create,)))
    webhook = (
        slack_webhook(env)
        if require_secrets or profile.in_cluster_slack_mock
        else _secret(env, "SLACK_WEBHOOK_URL", False)
    )
    if profile.generated_postgres_password and require_secrets and "POSTGRES_EXPORTER_PASSWORD" not in env.secrets:
        password = kwok_postgres_password()
    else:
        password = _secret(env, "POSTGRES_EXPORTER_PASSWORD", require_secrets)
    slack = _secret_manifest(SLACK_SECRET, ns, {"url": webhook.reveal()})
    auth = front_door_auth(env, require_secrets) if env.front_door_auth else None
    otlp = otlp_auth(env, require_secrets) if env.otlp_auth else []
    postgres = _secret_manifest(POSTGRES_SECRET, ns, {"password": password.reveal()})
    issuer: tuple[Action, ...] = (tools.apply(f("cluster-issuer.yaml")),)
    if profile.cert_manager:
        issuer = (
            tools.install("cert-manager", "cert-manager", CERT_MANAGER_NAMESPACE, "--values", f(CERT_MANAGER_VALUES)),
            *issuer,
        )
    exporter: tuple[Action, ...] = (
        tools.apply_secret(postgres, POSTGRES_SECRET, ns),
        tools.install(
            "postgres-exporter", "prometheus-postgres-exporter", ns, "--values", f("postgres-exporter-values.yaml")
        ),
    )
    if profile.own_postgres:
        exporter = (exporter[0], tools.apply(f(POSTGRES_MANIFEST)), exporter[1])
    if profile.app_namespaces:
        # no app runs in the app namespaces the deployer makes: a Postgres exporter in each stands in for the
        # app's own, so the namespace's ServiceMonitor (service-monitors.yaml) selects a Service to scrape
        for app in env.app_namespaces:
            exporter += (
                tools.apply_secret(_secret_manifest(POSTGRES_SECRET, app, {"password": password.reveal()}),
                                   POSTGRES_SECRET, app),
                tools.install(f"{app}-postgres-exporter", "prometheus-postgres-exporter", app,
                              "--values", f("postgres-exporter-values.yaml")),
            )  # fmt: skip
    steps += [
        Step(3, "create the namespace" + (" and the front door's htpasswd Secret" if auth else ""), (
            tools.apply(f("namespace.yaml")),
            *((tools.apply_secret(auth, FRONT_DOOR_AUTH_SECRET, ns),) if auth else ()),
        )),
        Step(4, f"install ingress-nginx with class {ingress_class}", (
            tools.install("ingress-nginx", "ingress-nginx", "ingress-nginx", "--values", f("ingress-nginx-values.yaml")),
        )),
        Step(5, ("install cert-manager and " if profile.cert_manager else "")
             + f"apply the ClusterIssuer {env.text('CLUSTER_ISSUER')}", issuer),
        Step(6, "install kube-prometheus-stack (release prom-stack)", (
            tools.apply_secret(slack, SLACK_SECRET, ns),
            tools.install("prom-stack", "kube-prometheus-stack", ns, "--values", f("prometheus-values.yaml")),
        )),
        Step(7, "install the OpenTelemetry operator, the collector and the instrumentation"
             + (" with their OTLP authentication Secrets" if otlp else ""), (
            tools.install("opentelemetry-operator", "opentelemetry-operator", ns,
                          "--values", f("opentelemetry-operator-values.yaml")),
            *(tools.apply_secret(*secret) for secret in otlp[:1]),
            tools.apply(f("otel-collector.yaml")),
            *(tools.apply_secret(*secret) for secret in otlp[1:]),
            tools.apply(f("instrumentation.yaml")),
        )),
        Step(8, "install the Postgres exporter with its secret"
             + (" (and one per app namespace)" if profile.app_namespaces else ""), exporter),
        Step(9, "apply the ServiceMonitors and the conformance rules", (
            tools.apply(f("service-monitors.yaml")),
            tools.apply(f("conformance-rules.yaml")),
        )),
        Step(10, "install loki-stack (release loki-stack)", (
            tools.install("loki-stack", "loki-stack", ns, "--values", f("loki-values.yaml")),
        )),
        Step(11, "install tempo and its ingress", (
            tools.install("tempo", "tempo", ns, "--values", f("tempo-values.yaml")),
            tools.apply(f("tempo-ingress.yaml")),
        )),
    ]  # fmt: skip
    if with_canary(env, canary):
        steps.append(Step(CANARY_STEP, "install the conformance canary (charts/obs-conformance-canary)", (
            tools.install_release(canary_release(env)),
        )))  # fmt: skip
    return steps


def down_plan(
    env: Environment, rendered: RenderedSet, delete_data: bool, canary: bool = False
) -> tuple[list[Step], list[str]]:
    """Releases and manifests removed in reverse order (the canary first, with ``canary`` or
    ``CANARY="on"``); PVCs kept unless ``delete_data``.

    The namespace is never deleted: that would delete the PVCs with it.
    Returns the steps and the PVCs kept.
    """
    tools = Tools(env)
    ns = env.text("NAMESPACE")

    def uninstall(release: str, namespace: str = ns) -> Action:
        return Action(tools.helm.uninstall(release, namespace))

    def delete(name: str) -> Action:
        return Action(tools.kubectl.delete(str(rendered.path(name))))

    steps = [
        *([Step(CANARY_STEP, "remove the conformance canary", (uninstall(CANARY_RELEASE),))]
          if with_canary(env, canary) else []),
        Step(11, "remove tempo", (delete("tempo-ingress.yaml"), uninstall("tempo"))),
        Step(10, "remove loki-stack", (uninstall("loki-stack"),)),
        Step(9, "remove the ServiceMonitors and the conformance rules", (
            delete("conformance-rules.yaml"), delete("service-monitors.yaml"),
        )),
        Step(8, "remove the Postgres exporter" + (" and those of the app namespaces" if env.profile.app_namespaces else ""), (
            *(uninstall(f"{app}-postgres-exporter", app) for app in (env.app_namespaces if env.profile.app_namespaces else ())),
            uninstall("postgres-exporter"), *((delete(POSTGRES_MANIFEST),) if env.profile.own_postgres else ()),
        )),
        Step(7, "remove the collector, instrumentation and operator", (
            delete("instrumentation.yaml"), delete("otel-collector.yaml"), uninstall("opentelemetry-operator"),
        )),
        Step(6, "remove kube-prometheus-stack", (uninstall("prom-stack"),)),
    ]  # fmt: skip
    kept = list(PVCS)
    if delete_data:
        pvc_delete = Action(tools.kubectl("delete", "pvc", "--namespace", ns, "--ignore-not-found", *PVCS))
        steps.append(Step(12, "delete the data (--delete-data)", (pvc_delete,)))
        kept = []
    return steps, kept


def releases(steps: list[Step]) -> list[Release]:
    """The helm releases of a plan, in the order ``up`` installs them."""
    return [action.release for step in steps for action in step.actions if action.release is not None]
