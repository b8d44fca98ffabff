"""After ``up``'s steps: what the operators make from the deploy's objects, waited for until ready.

helm's ``--wait`` covers only what helm creates itself. The Prometheus and Alertmanager
StatefulSets (and their PVCs) are made by prometheus-operator from the CRs, the collector's
Deployment by the OpenTelemetry operator, the ingresses' Certificates by cert-manager: a deploy
whose values the cluster cannot satisfy (a StorageClass it lacks, an issuer that cannot issue,
a request no node fits) passes every step. This module reads them (one list call per kind,
through :class:`KubernetesClient`) until they are ready or the env's ``DEPLOY_READY_DEADLINE``
passes, and then names each stuck object, the reason the cluster gives, and the step whose
objects it was made from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from obs_conformance.clients.errors import BackendError, WaitTimeout
from obs_conformance.clients.kubernetes import KubernetesClient
from obs_conformance.clients.polling import Observation, wait_for
from obs_conformance.deployer.cluster.manifests import RenderedSet
from obs_conformance.deployer.cluster.plan import Step
from obs_conformance.envconf import Environment

Obj = dict[str, Any]
HELM_RELEASE = "meta.helm.sh/release-name"
ISSUER_ANNOTATIONS = {"cert-manager.io/cluster-issuer": "ClusterIssuer", "cert-manager.io/issuer": "Issuer"}


class NotReadyError(Exception):
    """Every step passed, but what the operators make was not ready by the deadline; one line per stuck object."""


@dataclass(frozen=True)
class Stuck:
    """One object that is not ready: what it is, why (as the cluster says), and the step it comes from."""

    step: Step | None
    what: str
    why: str

    def line(self) -> str:
        where = f"step {self.step.number}" if self.step is not None else "step ?"
        return f"{where}: {self.what}: {self.why}"


@dataclass(frozen=True)
class Cluster:
    """One poll's reads: every list the checks need, one call per kind."""

    namespace: str
    prometheuses: list[Obj]
    alertmanagers: list[Obj]
    collectors: list[Obj]
    statefulsets: list[Obj]
    deployments: list[Obj]
    pods: list[Obj]
    pvcs: list[Obj]
    events: list[Obj]
    ingresses: list[Obj]
    certificates: list[Obj]
    certificate_requests: list[Obj]
    issuers: list[Obj]
    cluster_issuers: list[Obj]
    storage_classes: list[Obj]

    @classmethod
    def read(cls, api: KubernetesClient, namespace: str) -> Cluster:
        ns = f"namespaces/{namespace}"
        return cls(
            namespace=namespace,
            prometheuses=api.items(f"/apis/monitoring.coreos.com/v1/{ns}/prometheuses"),
            alertmanagers=api.items(f"/apis/monitoring.coreos.com/v1/{ns}/alertmanagers"),
            collectors=api.items(f"/apis/opentelemetry.io/v1beta1/{ns}/opentelemetrycollectors"),
            statefulsets=api.items(f"/apis/apps/v1/{ns}/statefulsets"),
            deployments=api.items(f"/apis/apps/v1/{ns}/deployments"),
            pods=api.items(f"/api/v1/{ns}/pods"),
            pvcs=api.items(f"/api/v1/{ns}/persistentvolumeclaims"),
            events=api.items(f"/api/v1/{ns}/events"),
            ingresses=api.items(f"/apis/networking.k8s.io/v1/{ns}/ingresses"),
            certificates=api.items(f"/apis/cert-manager.io/v1/{ns}/certificates"),
            certificate_requests=api.items(f"/apis/cert-manager.io/v1/{ns}/certificaterequests"),
            issuers=api.items(f"/apis/cert-manager.io/v1/{ns}/issuers"),
            cluster_issuers=api.items("/apis/cert-manager.io/v1/clusterissuers"),
            storage_classes=api.items("/apis/storage.k8s.io/v1/storageclasses"),
        )

    def named(self, objects: list[Obj], name: str) -> Obj | None:
        return next((o for o in objects if o["metadata"]["name"] == name), None)

    def warning(self, obj: Obj, reasons: Iterable[str] = ()) -> str:
        """The latest Warning event about ``obj`` (by uid; ``reasons`` first when given): ``reason: message``."""
        uid = obj["metadata"].get("uid")
        about = [e for e in self.events if e.get("involvedObject", {}).get("uid") == uid and e.get("type") == "Warning"]
        wanted = [e for e in about if e.get("reason") in set(reasons)] or about
        if not wanted:
            return ""
        latest = max(wanted, key=_event_time)
        return f"{latest.get('reason')}: {str(latest.get('message', '')).strip()}"

    def pods_of(self, workload: Obj) -> list[Obj]:
        selector = workload.get("spec", {}).get("selector", {}).get("matchLabels", {})
        return [
            p for p in self.pods
            if selector and all(p["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())
        ]  # fmt: skip


def _event_time(event: Obj) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or event["metadata"].get("creationTimestamp") or "")


def _condition(obj: Obj, kind: str) -> Obj | None:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c.get("type") == kind), None)


def _shown_condition(condition: Obj | None) -> str:
    if condition is None:
        return "has no Ready condition (no controller has reconciled it)"
    text = f"{condition.get('type')}={condition.get('status')}"
    if condition.get("reason"):
        text += f" {condition['reason']}"
    if condition.get("message"):
        text += f": {str(condition['message']).strip()}"
    return text


def _name(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else str(meta["name"])


class StepIndex:
    """Which step of the plan an object comes from: its helm release, else the manifest that holds it."""

    def __init__(self, steps: list[Step], rendered: RenderedSet) -> None:
        self.by_release: dict[str, Step] = {}
        self.by_object: dict[tuple[str, str], Step] = {}
        for step in steps:
            for action in step.actions:
                if action.release is not None:
                    self.by_release[action.release.name] = step
                if action.manifest is not None and action.manifest in rendered.files:
                    for doc in yaml.safe_load_all(rendered.files[action.manifest]):
                        if isinstance(doc, dict) and "kind" in doc:
                            self.by_object[(str(doc["kind"]), str(doc["metadata"]["name"]))] = step

    def of(self, obj: Obj, kind: str) -> Step | None:
        """``kind`` given: the items of a list call carry none (custom resources' do)."""
        release = obj["metadata"].get("annotations", {}).get(HELM_RELEASE)
        if release in self.by_release:
            return self.by_release[release]
        return self.by_object.get((kind, str(obj["metadata"]["name"])))


def _pod_reason(cluster: Cluster, pod: Obj) -> str:
    """Why one pod is not Ready: its scheduler event, a waiting container, or its phase."""
    name = f"pod {pod['metadata']['name']}"
    status = pod.get("status", {})
    scheduled = _condition(pod, "PodScheduled")
    if scheduled is not None and scheduled.get("status") == "False":
        seen = cluster.warning(pod, ("FailedScheduling",)) or _shown_condition(scheduled)
        return f"{name} {status.get('phase', 'Pending')}: {seen}"
    for container in status.get("containerStatuses", []):
        waiting = container.get("state", {}).get("waiting")
        if waiting:
            return (
                f"{name}: container {container['name']} {waiting.get('reason')}: {waiting.get('message', '')}".rstrip(
                    ": "
                )
            )
    return f"{name} {status.get('phase', 'Pending')}: " + (
        cluster.warning(pod) or _shown_condition(_condition(pod, "Ready"))
    )


def _pods_reason(cluster: Cluster, workload: Obj) -> str:
    pods = cluster.pods_of(workload)
    not_ready = [p for p in pods if (_condition(p, "Ready") or {}).get("status") != "True"]
    if not pods:
        return "no pod: " + (cluster.warning(workload, ("FailedCreate",)) or "none created yet")
    if not_ready:
        return "; ".join(_pod_reason(cluster, p) for p in not_ready[:2])
    return "pods Ready, rollout not finished"


def _pvc_reason(cluster: Cluster, pvc: Obj) -> str:
    phase = pvc.get("status", {}).get("phase", "Pending")
    storage_class = pvc.get("spec", {}).get("storageClassName")
    classes = sorted(c["metadata"]["name"] for c in cluster.storage_classes)
    if storage_class and storage_class not in classes:
        return f"{phase}: its StorageClass {storage_class} does not exist (the cluster has: {', '.join(classes) or 'none'})"
    return f"{phase}: " + (cluster.warning(pvc) or f"StorageClass {storage_class or '(default)'} has not bound it")


def _claims(cluster: Cluster, statefulset: Obj) -> list[tuple[str, Obj | None]]:
    """The PVCs a StatefulSet's pods use: ``<template>-<statefulset>-<ordinal>``."""
    replicas = int(statefulset.get("spec", {}).get("replicas", 1))
    name = statefulset["metadata"]["name"]
    return [
        (claim, cluster.named(cluster.pvcs, claim))
        for template in statefulset.get("spec", {}).get("volumeClaimTemplates", [])
        for ordinal in range(replicas)
        for claim in [f"{template['metadata']['name']}-{name}-{ordinal}"]
    ]


def _cr_reason(cluster: Cluster, cr: Obj) -> str:
    """An operator's own account of a CR: a condition not True (its reconcile error), else a Warning event."""
    for condition in cr.get("status", {}).get("conditions", []):
        if condition.get("status") != "True" and condition.get("message"):
            return f"{cr['kind']} {cr['metadata']['name']} {_shown_condition(condition)}"
    warning = cluster.warning(cr)
    return f"{cr['kind']} {cr['metadata']['name']} {warning}" if warning else ""


def _workload_ready(workload: Obj) -> bool:
    spec, status = workload.get("spec", {}), workload.get("status", {})
    replicas = int(spec.get("replicas", 1))
    if int(status.get("observedGeneration", 0)) < int(workload["metadata"].get("generation", 0)):
        return False
    if workload.get("kind") == "StatefulSet":
        revision_done = status.get("updateRevision") in (None, status.get("currentRevision"))
        return int(status.get("readyReplicas", 0)) >= replicas and revision_done
    return (
        int(status.get("updatedReplicas", 0)) >= replicas
        and int(status.get("availableReplicas", 0)) >= replicas
        and int(status.get("replicas", 0)) <= replicas
    )


def _workload(cluster: Cluster, index: StepIndex, cr: Obj, kind: str, name: str, made_by: str) -> list[Stuck]:
    step = index.of(cr, cr["kind"])
    objects = cluster.statefulsets if kind == "StatefulSet" else cluster.deployments
    workload = cluster.named(objects, name)
    what = f"{kind} {cluster.namespace}/{name}"
    if workload is None:
        why = _cr_reason(cluster, cr) or f"not made yet by {made_by} from {cr['kind']} {cr['metadata']['name']}"
        return [Stuck(step, what, f"missing: {why}")]
    stuck = []
    if kind == "StatefulSet":
        for claim, pvc in _claims(cluster, workload):
            if pvc is None:
                stuck.append(Stuck(step, f"PersistentVolumeClaim {cluster.namespace}/{claim}", "not created yet"))
            elif pvc.get("status", {}).get("phase") != "Bound":
                stuck.append(Stuck(step, f"PersistentVolumeClaim {_name(pvc)}", _pvc_reason(cluster, pvc)))
    if not _workload_ready(workload):
        status, replicas = workload.get("status", {}), workload.get("spec", {}).get("replicas", 1)
        if kind == "StatefulSet":
            counts = f"{status.get('readyReplicas', 0)}/{replicas} ready"
        else:
            counts = (
                f"{status.get('updatedReplicas', 0)}/{replicas} updated, {status.get('availableReplicas', 0)} available"
            )
        why = f"{counts}: {_pods_reason(cluster, workload)}"
        operator = _cr_reason(cluster, cr)
        stuck.append(Stuck(step, what, why + (f" ({operator})" if operator else "")))
    return stuck


def _issuer_reason(cluster: Cluster, kind: str, name: str) -> str:
    issuers = cluster.cluster_issuers if kind == "ClusterIssuer" else cluster.issuers
    issuer = cluster.named(issuers, name)
    if issuer is None:
        return f"{kind} {name} does not exist"
    ready = _condition(issuer, "Ready")
    if ready is not None and ready.get("status") == "True":
        return f"{kind} {name} Ready"
    return f"{kind} {name} {_shown_condition(ready)}"


def _certificates(cluster: Cluster, index: StepIndex) -> list[Stuck]:
    """Every TLS secret an ingress asks cert-manager for: its Certificate exists and is Ready."""
    stuck = []
    for ingress in cluster.ingresses:
        annotations = ingress["metadata"].get("annotations", {})
        issuer = next(((kind, annotations[a]) for a, kind in ISSUER_ANNOTATIONS.items() if a in annotations), None)
        if issuer is None:
            continue
        step = index.of(ingress, "Ingress")
        for tls in ingress.get("spec", {}).get("tls", []):
            name = tls.get("secretName")
            if not name:
                continue
            what = f"Certificate {cluster.namespace}/{name}"
            certificate = cluster.named(cluster.certificates, name)
            if certificate is None:
                made = cluster.warning(ingress) or "cert-manager has not made it (is it running?)"
                stuck.append(Stuck(step, what, f"missing for Ingress {ingress['metadata']['name']}: {made}"))
                continue
            ready = _condition(certificate, "Ready")
            if ready is not None and ready.get("status") == "True":
                continue
            ref = certificate.get("spec", {}).get("issuerRef", {})
            kind, issuer_name = str(ref.get("kind") or "Issuer"), str(ref.get("name"))
            why = f"{_shown_condition(ready)}; issuer {_issuer_reason(cluster, kind, issuer_name)}"
            request = _latest_request(cluster, certificate)
            if request is not None:
                why += f"; CertificateRequest {request['metadata']['name']} {_shown_condition(_condition(request, 'Ready'))}"
            stuck.append(Stuck(step, what, why))
    return stuck


def _latest_request(cluster: Cluster, certificate: Obj) -> Obj | None:
    uid = certificate["metadata"].get("uid")
    owned = [
        r for r in cluster.certificate_requests
        if any(o.get("uid") == uid for o in r["metadata"].get("ownerReferences", []))
    ]  # fmt: skip
    return max(owned, key=lambda r: str(r["metadata"].get("creationTimestamp", "")), default=None)


def stuck_objects(cluster: Cluster, index: StepIndex) -> list[Stuck]:
    """What is not ready yet, each with the reason the cluster gives; empty when all is ready."""
    stuck: list[Stuck] = []
    for cr in cluster.prometheuses:
        cr = {"kind": "Prometheus", **cr}
        stuck += _workload(
            cluster, index, cr, "StatefulSet", f"prometheus-{cr['metadata']['name']}", "prometheus-operator"
        )
    for cr in cluster.alertmanagers:
        cr = {"kind": "Alertmanager", **cr}
        name = f"alertmanager-{cr['metadata']['name']}"
        stuck += _workload(cluster, index, cr, "StatefulSet", name, "prometheus-operator")
    for cr in cluster.collectors:
        cr = {"kind": "OpenTelemetryCollector", **cr}
        if cr.get("spec", {}).get("mode", "deployment") != "deployment":
            continue
        name = f"{cr['metadata']['name']}-collector"
        stuck += _workload(cluster, index, cr, "Deployment", name, "the OpenTelemetry operator")
    return stuck + _certificates(cluster, index)


def watched(cluster: Cluster) -> str:
    """What the wait covers, for the line ``up`` prints before it."""
    certificates = sum(
        1 for i in cluster.ingresses if set(ISSUER_ANNOTATIONS) & set(i["metadata"].get("annotations", {}))
        for t in i.get("spec", {}).get("tls", []) if t.get("secretName")
    )  # fmt: skip
    return (
        f"{len(cluster.prometheuses) + len(cluster.alertmanagers)} StatefulSets with their PVCs, "
        f"{len(cluster.collectors)} collector Deployment(s), {certificates} Certificates"
    )


def client(env: Environment) -> KubernetesClient:
    config_file = str(env.repo_path("KUBECONFIG_FILE")) if env.values.get("KUBECONFIG_FILE") else None
    context = str(env.values.get("KUBE_CONTEXT", "")) or None
    return KubernetesClient.from_kubeconfig(context, env.duration("HTTP_TIMEOUT").seconds, config_file)


def wait_ready(
    env: Environment,
    steps: list[Step],
    rendered: RenderedSet,
    out: Callable[[str], None] = print,
    api: KubernetesClient | None = None,
) -> None:
    """Poll until nothing is stuck; past ``DEPLOY_READY_DEADLINE``, :class:`NotReadyError` naming each stuck object."""
    deadline = env.duration("DEPLOY_READY_DEADLINE").seconds
    namespace = env.text("NAMESPACE")
    kube = api or client(env)
    index = StepIndex(steps, rendered)
    last: list[list[Stuck]] = [[]]
    first: list[Cluster] = []

    def probe() -> Observation[list[Stuck]]:
        cluster = Cluster.read(kube, namespace)
        if not first:
            first.append(cluster)
            out(f"ready?: waiting up to {deadline:g}s for what the operators make: {watched(cluster)}")
        stuck = stuck_objects(cluster, index)
        last[0] = stuck
        return Observation(stuck, not stuck, "; ".join(s.line() for s in stuck))

    try:
        waited = wait_for(
            probe,
            expected="what the operators make ready",
            where=f"namespace {namespace} ({kube.base_url})",
            deadline=deadline,
            first_interval=0.25,
            max_interval=min(2.0, max(deadline / 10, 0.25)),
        )
    except WaitTimeout as e:
        if not last[0]:
            raise NotReadyError(env.mask(str(e))) from None  # never read: the API did not answer
        lines = [s.line() for s in last[0]]
        raise NotReadyError(
            env.mask(
                f"not ready {deadline:g}s after the steps (DEPLOY_READY_DEADLINE), {len(lines)} stuck:\n  "
                + "\n  ".join(lines)
            )
        ) from None
    except BackendError as e:
        raise NotReadyError(env.mask(f"cannot read what the operators made: {e}")) from e
    out(f"ready: all of it, in {waited.seconds:.1f}s")
