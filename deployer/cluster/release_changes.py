"""What one ``helm upgrade --install`` changed, per object of the release's manifest.

helm prints no per-object account of an upgrade. Its release records are Secrets
(``sh.helm.release.v1.<release>.v<revision>``, labels ``owner=helm,name=<release>``) holding the
manifest it applied; the release's latest record is read through the Kubernetes API before and after
the upgrade (one list call each, no helm command: the deploy's command list stays what it was) and
the two manifests compared: created, changed (field paths, never values: a chart's Secret shows which
key changed and nothing of it), unchanged, removed. A release that did not exist before is
``created`` with its object count.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from obs_conformance.clients.kubernetes import KubernetesClient
from obs_conformance.deployer.cluster import changes

Obj = dict[str, Any]


@dataclass(frozen=True)
class Record:
    """A release's latest revision and the objects of its manifest."""

    revision: int
    objects: list[Obj]


def decode(secret: Obj) -> Obj:
    """The release a helm record Secret holds (``data.release``: base64 of base64 of gzip of JSON)."""
    raw = base64.b64decode(base64.b64decode(secret["data"]["release"]))
    release: Obj = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    return release


def manifest_objects(manifest: str) -> list[Obj]:
    return [d for d in yaml.safe_load_all(manifest) if isinstance(d, dict) and d.get("metadata")]


def latest(records: list[Obj]) -> Record | None:
    """The highest revision of a release's record Secrets; None when it has none (or none decodes)."""
    best: Record | None = None
    for secret in records:
        try:
            revision = int(secret["metadata"].get("labels", {}).get("version", "0"))
            if best is not None and revision <= best.revision:
                continue
            best = Record(revision, manifest_objects(str(decode(secret).get("manifest", ""))))
        except (KeyError, ValueError, binascii.Error, OSError, yaml.YAMLError):
            continue
    return best


def _with_namespace(obj: Obj, namespace: str) -> Obj:
    """helm leaves the namespace out of most templates: the release's namespace is where they go."""
    meta = obj["metadata"]
    return obj if meta.get("namespace") else {**obj, "metadata": {**meta, "namespace": namespace}}


def report(before: Record | None, after: Record, namespace: str) -> list[str]:
    """One line per object of ``after``'s manifest against ``before``'s, then one per object it no longer has."""
    new = [_with_namespace(o, namespace) for o in after.objects]
    if before is None:
        return [f"release created (revision {after.revision}): {len(new)} objects"]
    if before.revision == after.revision:
        return ["no new revision (helm did not upgrade)"]
    old = {changes.key(o): o for o in (_with_namespace(o, namespace) for o in before.objects)}
    lines = []
    for obj in new:
        previous = old.pop(changes.key(obj), None)
        if previous is None:
            lines.append(f"{changes.key(obj)}: created")
            continue
        changed = changes.fields(previous, obj)
        lines.append(f"{changes.key(obj)}: " + (f"changed ({', '.join(changed)})" if changed else "unchanged"))
    lines += [f"{key}: removed" for key in old]
    return lines


class ReadError(Exception):
    """A release's records could not be read (no client for the cluster, an API error): no report."""


Reader = Callable[[str, str], Record | None]


def reader(make_client: Callable[[], KubernetesClient]) -> Reader:
    """Reads a release's latest record (``name``, ``namespace``); the client is made at the first read
    (on kind the cluster exists only after step 0). None: the release has no record (it did not exist);
    a read that fails raises :class:`ReadError`."""
    made: list[KubernetesClient] = []

    def read(name: str, namespace: str) -> Record | None:
        try:
            if not made:
                made.append(make_client())
            path = f"/api/v1/namespaces/{namespace}/secrets?labelSelector=owner%3Dhelm%2Cname%3D{name}"
            return latest(made[0].items(path))
        except Exception as e:  # the kubernetes library's ConfigException types, an unreachable API
            raise ReadError(str(e)) from e

    return read
