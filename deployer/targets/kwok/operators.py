"""The operators the design depends on, run as processes against the kwok target's API server.

Nothing runs inside kwok's pods, so the charts' operator Deployments only look Running.
These processes are what reconciles: prometheus-operator turns Prometheus and
Alertmanager CRs into StatefulSets (whose volumeClaimTemplates make the PVCs), the
OpenTelemetry operator turns OpenTelemetryCollector CRs into Deployments and Services,
and cert-manager's controllers issue Certificates from selfSigned and CA issuers.
Each is built at the version its pinned chart deploys (deployer/toolchain/operator_build.py).

CRDs: each operator's CRDs are rendered from its pinned chart (``helm template
--include-crds``, the chart the deployer installs) and applied server-side right before
the operator starts (two of them exit at start without their CRDs). Charts that ship
CRDs as templates (the OpenTelemetry operator's, cert-manager's) would refuse to adopt
objects they did not create ("invalid ownership metadata"), so those CRDs carry helm's
ownership label and annotations for the release the deployer installs: ``deployer up``
then adopts them. kube-prometheus-stack keeps its CRDs in ``crds/``, which helm
installs only when absent; those are applied as they are.

The network rule: every listener is 127.0.0.1 and the only address any of them dials is
the API server's (the admin kubeconfig). The prometheus-operator runs without its
kubelet-Endpoints controller (it would publish node addresses as scrape targets), and
the cert-manager entry point links no ACME, Vault or Venafi issuer.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from obs_conformance.clients.errors import BackendError
from obs_conformance.clients.kubernetes import KubernetesClient
from obs_conformance.clients.polling import Observation, wait_for
from obs_conformance.deployer import pins
from obs_conformance.deployer.engine.component import Component
from obs_conformance.deployer.engine.layout import REPO_ROOT
from obs_conformance.deployer.engine.processes import ProcessSpec
from obs_conformance.deployer.errors import StackError
from obs_conformance.deployer.targets.kwok.components import FIELD_MANAGER, LOOPBACK, KubePlane
from obs_conformance.deployer.toolchain import gobuild, helm_build, operator_build
from obs_conformance.deployer.toolchain.charts import ChartSource, load_all
from obs_conformance.deployer.toolchain.run import TimeoutExpired
from obs_conformance.deployer.toolchain.tools import pinned_helm
from obs_conformance.envconf import Environment

HELM_TIMEOUT = 120.0
CRD_TIMEOUT = 60.0
# the digest of what was last applied, so a warm start need not send the schemas again
DIGEST = "obs-conformance.local/applied-digest"
CRD_CACHE_FORMAT = 1  # bump when render_crds/adopted change what they return
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
# The releases the deployer installs these charts as (deployer/cluster/plan.py): adopted CRDs name them.
OTEL_OPERATOR_RELEASE = "opentelemetry-operator"
CERT_MANAGER_RELEASE = "cert-manager"
CERT_MANAGER_NAMESPACE = "cert-manager"
# Where the offline chart mirror sits beside a checkout, when OBSCONF_CHARTS names none.
SIBLING_MIRROR = REPO_ROOT.parent / "shared" / "charts"


@dataclass(frozen=True)
class ChartCrds:
    """The CRDs one chart ships, rendered as its release would install them."""

    chart: str
    release: str
    namespace: str
    settings: tuple[str, ...]  # --set options the deployer's values give this target (webhooks off)
    adopt: bool  # CRDs are chart templates: label them for helm to adopt


def chart_source() -> ChartSource:
    """``$OBSCONF_CHARTS``, else the offline mirror beside the checkout if present, else the repositories."""
    source = ChartSource.from_option(None)
    if source.directory is None and SIBLING_MIRROR.is_dir():
        return ChartSource(SIBLING_MIRROR)
    return source


def render_crds(crds: ChartCrds, charts: ChartSource, kube_version: str) -> list[dict[str, Any]]:
    """The chart's CRDs through ``helm template`` (the pinned helm), as its release would install them."""
    settings = tuple(f"--set={s}" for s in crds.settings)
    template = pinned_helm().template(
        crds.release, charts.reference(crds.chart), crds.namespace, kube_version, settings
    )
    try:
        done = template.run(timeout=HELM_TIMEOUT)
    except (OSError, TimeoutExpired) as e:
        raise StackError(f"{crds.chart} CRDs: helm template failed: {e}") from e
    if done.returncode != 0:
        raise StackError(f"{crds.chart} CRDs: `{template.shown()}` exited {done.returncode}: {done.stderr[-800:]}")
    found = [doc for doc in load_all(done.stdout) if doc.get("kind") == "CustomResourceDefinition"]
    if not found:
        raise StackError(
            f"{crds.chart} CRDs: helm template of {charts.describe()} rendered no CustomResourceDefinition"
        )
    return [adopted(doc, crds) if crds.adopt else doc for doc in found]


def cached_crds(crds: ChartCrds, kube_version: str) -> list[dict[str, Any]]:
    """The rendered CRDs, kept in the build cache per chart version and options (helm template of a
    big chart takes seconds; a warm ``up`` must not pay that again)."""
    charts = chart_source()
    chart = pins.CHARTS[crds.chart]
    key = json.dumps(
        [
            CRD_CACHE_FORMAT,
            chart.name,
            chart.version,
            crds.release,
            crds.namespace,
            crds.settings,
            crds.adopt,
            kube_version,
        ]
    )
    path = (
        gobuild.cache_dir()
        / "crds"
        / f"{chart.name}-{chart.version}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.json"
    )
    if path.is_file():
        cached: list[dict[str, Any]] = json.loads(path.read_text())
        return cached
    documents = render_crds(crds, charts, kube_version)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # parallel test workers render too
    tmp.write_text(json.dumps(documents))
    tmp.rename(path)
    return documents


def adopted(crd: dict[str, Any], crds: ChartCrds) -> dict[str, Any]:
    """``crd`` with the ownership metadata helm checks before it takes over an existing object."""
    metadata = dict(crd.get("metadata") or {})
    metadata["labels"] = {**(metadata.get("labels") or {}), "app.kubernetes.io/managed-by": "Helm"}
    metadata["annotations"] = {
        **(metadata.get("annotations") or {}),
        "meta.helm.sh/release-name": crds.release,
        "meta.helm.sh/release-namespace": crds.namespace,
    }
    metadata.pop("creationTimestamp", None)
    return {**crd, "metadata": metadata}


def apply_crds(api: KubernetesClient, documents: list[dict[str, Any]], deadline_s: float) -> None:
    """Server-side apply each CRD, then wait until the API serves every one (Established)."""
    crd_api = api.with_timeout(CRD_TIMEOUT)  # the biggest CRD is ~0.5 MB
    names = []  # those applied now; one that carries its digest was applied and established before
    for document in documents:
        name = document["metadata"]["name"]
        digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:16]
        if _applied_digest(crd_api, name) == digest:
            continue  # applied before, unchanged: a warm start skips re-sending ~2 MB of schemas
        names.append(name)
        metadata = document["metadata"]
        marked = {
            **document,
            "metadata": {**metadata, "annotations": {**(metadata.get("annotations") or {}), DIGEST: digest}},
        }
        crd_api.apply(f"{CRD_PATH}/{name}", marked, FIELD_MANAGER)
    waiting = dict.fromkeys(names, "(not asked yet)")

    def established() -> Observation[dict[str, str]]:
        nonlocal waiting
        waiting = {name: seen for name in waiting if (seen := _established(crd_api, name)) != "True"}
        shown = "; ".join(f"{name} Established={seen}" for name, seen in waiting.items())
        return Observation(waiting, not waiting, shown)

    wait_for(
        established,
        expected=f"{len(names)} CRD(s) Established",
        where=f"{api.url(CRD_PATH)}/{{{','.join(names)}}}",
        deadline=deadline_s,
        first_interval=0.05,
        max_interval=0.5,
    )


def _applied_digest(api: KubernetesClient, name: str) -> str:
    """The DIGEST annotation of the live CRD (its metadata only), or "" when absent."""
    try:
        found = api.get_json(
            f"{CRD_PATH}/{name}", headers={"Accept": "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"}
        )
    except BackendError as e:
        if e.status == 404:
            return ""
        raise
    return str((found.get("metadata", {}).get("annotations") or {}).get(DIGEST, ""))


def _established(api: KubernetesClient, name: str) -> str:
    found = api.get(f"{CRD_PATH}/{name}")
    if found is None:
        return "(not found)"
    for condition in (found.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Established":
            return str(condition.get("status"))
    return "(no condition yet)"


def _http_probe(url: str) -> Callable[[float], tuple[bool, str]]:
    def probe(timeout: float) -> tuple[bool, str]:
        try:
            response = requests.get(url, timeout=timeout)
        except requests.RequestException as e:
            return False, type(e).__name__
        return response.status_code == 200, f"HTTP {response.status_code} {response.text[:80].strip()}"

    return probe


def operator_crds(env: Environment) -> dict[str, ChartCrds]:
    """Per operator component: the chart whose CRDs it needs, rendered as the deployer installs it."""
    return {
        "prometheus-operator": ChartCrds("kube-prometheus-stack", "prom-stack", env.text("NAMESPACE"), (), adopt=False),
        "opentelemetry-operator": ChartCrds(
            "opentelemetry-operator",
            OTEL_OPERATOR_RELEASE,
            env.text("NAMESPACE"),
            ("admissionWebhooks.create=false", "crds.create=true"),
            adopt=True,
        ),
        "cert-manager": ChartCrds(
            "cert-manager", CERT_MANAGER_RELEASE, CERT_MANAGER_NAMESPACE, ("crds.enabled=true",), adopt=True
        ),
    }


def operators(plane: KubePlane) -> list[Component]:
    """prometheus-operator, the OpenTelemetry operator and cert-manager's controller, in start order."""
    env = plane.env
    kubeconfig = str(plane.kubeconfig)
    namespace = env.text("NAMESPACE")
    deadline = env.duration("STACK_START_DEADLINE").seconds
    kube_version = pins.KUBERNETES_VERSION
    crds = operator_crds(env)

    def prepare(name: str) -> Callable[[], None]:
        def apply() -> None:
            apply_crds(plane.api, cached_crds(crds[name], kube_version), deadline)

        return apply

    prom_web = f"{LOOPBACK}:{env.port('LOCAL_PROMETHEUS_OPERATOR_PORT')}"
    otel_metrics = f"{LOOPBACK}:{env.port('LOCAL_OTEL_OPERATOR_METRICS_PORT')}"
    otel_health = f"{LOOPBACK}:{env.port('LOCAL_OTEL_OPERATOR_HEALTH_PORT')}"
    cm_metrics = f"{LOOPBACK}:{env.port('LOCAL_CERT_MANAGER_METRICS_PORT')}"
    cm_health = f"{LOOPBACK}:{env.port('LOCAL_CERT_MANAGER_HEALTH_PORT')}"
    collector_image = f"{pins.COLLECTOR_IMAGE}:{pins.OTELCOL_VERSION.lstrip('v')}"

    def with_helm(build: Callable[[], Path]) -> Callable[[], object]:
        def both() -> object:
            helm_build.build_helm()
            return build()

        return both

    return [
        Component(
            ProcessSpec(
                "prometheus-operator",
                (
                    str(operator_build.prometheus_operator_binary()),
                    f"--web.listen-address={prom_web}",
                    # no kubelet Endpoints: they would list node addresses as scrape targets
                    "--kubelet-service=",
                    "--log-level=info",
                ),
                ready_url=f"http://{prom_web}/healthz",
                ready_probe=_http_probe(f"http://{prom_web}/healthz"),
                env={"KUBECONFIG": kubeconfig},  # it has no --kubeconfig flag
            ),
            build=with_helm(operator_build.build_prometheus_operator),
            prepare=prepare("prometheus-operator"),
        ),
        Component(
            ProcessSpec(
                "opentelemetry-operator",
                (
                    str(operator_build.opentelemetry_operator_binary()),
                    f"--metrics-addr={otel_metrics}",
                    f"--health-probe-addr={otel_health}",
                    "--enable-webhooks=false",
                    "--enable-leader-election=false",
                    f"--collector-image={collector_image}",
                ),
                ready_url=f"http://{otel_health}/readyz",
                ready_probe=_http_probe(f"http://{otel_health}/readyz"),
                env={"KUBECONFIG": kubeconfig},  # a --kubeconfig flag is ignored
            ),
            build=with_helm(operator_build.build_opentelemetry_operator),
            prepare=prepare("opentelemetry-operator"),
        ),
        Component(
            ProcessSpec(
                "cert-manager",
                (
                    str(operator_build.cert_manager_binary()),
                    f"--kubeconfig={kubeconfig}",
                    "--leader-elect=false",
                    f"--cluster-resource-namespace={namespace}",
                    f"--metrics-listen-address={cm_metrics}",
                    f"--internal-healthz-listen-address={cm_health}",
                ),
                ready_url=f"http://{cm_health}/readyz",
                ready_probe=_http_probe(f"http://{cm_health}/readyz"),
            ),
            build=with_helm(operator_build.build_cert_manager),
            prepare=prepare("cert-manager"),
        ),
    ]
