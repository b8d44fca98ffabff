"""Volume claims our values would change but Kubernetes cannot: said by ``diff`` and ``up``, never acted on.

A StatefulSet's ``volumeClaimTemplates`` cannot change in place, and the PVCs made from them keep
the size and StorageClass they were created with. When the env's values (PROMETHEUS_STORAGE_SIZE,
ALERTMANAGER_STORAGE_CLASS, ...) ask for another size or class than an existing deploy's PVCs have,
the Prometheus and Alertmanager CRs take the new template but the data stays where it is. This
module compares what our rendered values give the CRs (``spec.storage.volumeClaimTemplate``) with
the namespace's PVCs (one list call) and says, per PVC, what differs and what to do. It deletes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from obs_conformance.clients.errors import BackendError
from obs_conformance.clients.kubernetes import KubernetesClient
from obs_conformance.deployer.cluster.manifests import RenderedSet
from obs_conformance.deployer.cluster.readiness import client
from obs_conformance.envconf import Environment
from obs_conformance.envconf.stack_facts import PVCS

Obj = dict[str, Any]
VALUES_FILE = "prometheus-values.yaml"
# where kube-prometheus-stack's values put each CR's storage spec
_STORAGE_PATHS = {
    "PROMETHEUS": ("prometheus", "prometheusSpec", "storageSpec"),
    "ALERTMANAGER": ("alertmanager", "alertmanagerSpec", "storage"),
}
_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)([KMGTPE]i|[kMGTPE]|m)?$")
_FACTORS = {
    None: 1.0, "m": 1e-3,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
    "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
}  # fmt: skip


@dataclass(frozen=True)
class Wanted:
    """What our values give one CR's volumeClaimTemplate, and the prefix of the PVCs made from it."""

    component: str  # PROMETHEUS, ALERTMANAGER
    prefix: str  # "<template name>-": each PVC is "<template name>-<pod name>"
    size: str | None
    storage_class: str | None


def quantity_bytes(text: str) -> float | None:
    """A Kubernetes quantity in bytes (``35Gi``, ``1.5G``, ``2040109465600m``); None if it is not one."""
    match = _QUANTITY.match(text.strip())
    return None if match is None else float(match.group(1)) * _FACTORS[match.group(2)]


def _dig(values: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        values = values.get(part) if isinstance(values, dict) else None
    return values


def wanted(rendered: RenderedSet) -> list[Wanted]:
    """The size and class of each CR's volumeClaimTemplate in our rendered values (none without the file)."""
    text = rendered.files.get(VALUES_FILE)
    values = yaml.safe_load(text) if text else None
    found = []
    for component, path in _STORAGE_PATHS.items():
        spec = _dig(values, (*path, "volumeClaimTemplate", "spec"))
        if not isinstance(spec, dict):
            continue
        size = _dig(spec, ("resources", "requests", "storage"))
        storage_class = spec.get("storageClassName")
        template = PVCS[component].split("-db-")[0] + "-db-"
        found.append(Wanted(component, template, None if size is None else str(size),
                            None if storage_class is None else str(storage_class)))  # fmt: skip
    return found


def _expand_command(name: str, namespace: str, size: str) -> str:
    patch = json.dumps({"spec": {"resources": {"requests": {"storage": size}}}}, separators=(",", ":"))
    return f"kubectl patch pvc {name} --namespace {namespace} -p '{patch}'"


def drift(wants: list[Wanted], pvcs: list[Obj]) -> list[str]:
    """One line per existing PVC whose size or class differs from what our values give its template:
    what it keeps, what the values ask, and what to do (nothing is done)."""
    lines = []
    for want in wants:
        for pvc in sorted(pvcs, key=lambda p: str(p["metadata"]["name"])):
            name = str(pvc["metadata"]["name"])
            if not name.startswith(want.prefix):
                continue
            namespace = str(pvc["metadata"].get("namespace", ""))
            pod = name[len(want.prefix) :]
            statefulset = pod.rsplit("-", 1)[0]
            orphan = f"kubectl delete statefulset {statefulset} --namespace {namespace} --cascade=orphan"
            spec = pvc.get("spec", {})
            has_class = spec.get("storageClassName")
            if want.storage_class is not None and has_class != want.storage_class:
                lines.append(
                    f"PVC {namespace}/{name} keeps StorageClass {has_class or '(none)'} (our values: "
                    f"{want.storage_class}): a volumeClaimTemplate cannot change in place and a PVC's class never "
                    f"changes; to move it, copy its data out, then `{orphan}` and delete this PVC, and let the "
                    f"operator recreate both (its data is lost); or set the class back to {has_class}"
                )
            has_size = spec.get("resources", {}).get("requests", {}).get("storage")
            if want.size is None or has_size is None:
                continue
            old, new = quantity_bytes(str(has_size)), quantity_bytes(want.size)
            if (old == new) if old is not None and new is not None else str(has_size) == want.size:
                continue
            if old is not None and new is not None and new < old:
                lines.append(
                    f"PVC {namespace}/{name} keeps {has_size} (our values: {want.size}): a volumeClaimTemplate "
                    f"cannot change in place and a PVC never shrinks; set the size back to {has_size}, or copy "
                    f"its data out, then `{orphan}` and delete this PVC, and let the operator recreate both"
                )
            else:
                lines.append(
                    f"PVC {namespace}/{name} keeps {has_size} (our values: {want.size}): a volumeClaimTemplate "
                    f"cannot change in place; expand the PVC (`{_expand_command(name, namespace, want.size)}`, "
                    f"if StorageClass {has_class} allows volume expansion), then `{orphan}` and let the operator "
                    f"recreate the StatefulSet with the new template"
                )
    return lines


def check(
    env: Environment, rendered: RenderedSet, out: Callable[[str], None] = print, api: KubernetesClient | None = None
) -> list[str]:
    """Compare our values with the namespace's PVCs (one list call) and print a warning per PVC that
    differs; a cluster that cannot be read is said, not an error (``diff`` and ``up`` go on). The lines."""
    wants = wanted(rendered)
    if not wants:
        return []
    namespace = env.text("NAMESPACE")
    try:
        kube = api or client(env)
    except Exception as e:  # the kubernetes library raises its own ConfigException types
        out(env.mask(f"volume claims: not compared, no client for the cluster: {e}"))
        return []
    try:
        pvcs = kube.items(f"/api/v1/namespaces/{namespace}/persistentvolumeclaims")
    except (BackendError, OSError) as e:
        out(env.mask(f"volume claims: not compared, the cluster's PVCs cannot be read: {e}"))
        return []
    lines = drift(wants, pvcs)
    for line in lines:
        out(env.mask(f"warning: {line}"))
    if not lines:
        made = sum(1 for p in pvcs for w in wants if str(p["metadata"]["name"]).startswith(w.prefix))
        out(f"volume claims: {made} PVC(s) of Prometheus and Alertmanager as our values ask")
    return lines
