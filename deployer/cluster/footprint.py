"""What a suite run writes on a cluster, and how it goes away: the run's label, its lease, the sweep.

Every object the suites create (the Slack mock and its AlertmanagerConfig, the log pods) lives in
the env's ``TEST_NAMESPACE`` and carries ``obs-conformance.io/run=<run>``. The run that creates the
first of them holds a Lease there (same label), renewed while it runs: a run is live while its Lease
holder (``host/pid``) runs on this host, or, from another host, while the Lease was renewed within its
duration. A run removes its own objects at its end (also on SIGINT/SIGTERM, fixtures/footprint.py);
one killed outright leaves them, and the next run's start sweeps every labelled object whose run is
not live. Nothing without the label is ever deleted: every delete goes through a label selector.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from obs_conformance.clients.errors import BackendError
from obs_conformance.clients.kubernetes import KubernetesClient
from obs_conformance.clients.polling import Observation, wait_for

RUN_LABEL = "obs-conformance.io/run"
LEASE_SECONDS = 60
FIELD_MANAGER = "obs-conformance-suite"

# (API prefix, resource): every kind the suites create in the test namespace, in delete order
KINDS: tuple[tuple[str, str], ...] = (
    ("/apis/monitoring.coreos.com/v1alpha1", "alertmanagerconfigs"),
    ("/apis/apps/v1", "deployments"),
    ("/apis/apps/v1", "replicasets"),
    ("/api/v1", "pods"),
    ("/api/v1", "services"),
    ("/api/v1", "configmaps"),
    ("/api/v1", "secrets"),
    ("/apis/coordination.k8s.io/v1", "leases"),
)
LEASES = "/apis/coordination.k8s.io/v1"


def this_holder() -> str:
    return f"{socket.gethostname()}/{os.getpid()}"


def _now() -> datetime:
    return datetime.now(UTC)


def _micro(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _pid_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lease_is_live(lease: dict[str, Any], now: datetime | None = None) -> bool:
    """A holder on this host is live while its process runs; one elsewhere while its renewals are fresh."""
    spec = lease.get("spec", {})
    host, _, pid = str(spec.get("holderIdentity", "")).rpartition("/")
    if host == socket.gethostname() and pid.isdigit():
        return _pid_runs(int(pid))
    renewed = str(spec.get("renewTime") or "")
    if not renewed:
        return False
    when = datetime.strptime(renewed.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    return when + timedelta(seconds=int(spec.get("leaseDurationSeconds") or LEASE_SECONDS)) > (now or _now())


def labels(run: str) -> dict[str, str]:
    return {RUN_LABEL: run}


@dataclass
class Footprint:
    """One run's objects in ``namespace``: claimed before the first is created, removed at the end."""

    kube: KubernetesClient
    namespace: str
    run: str
    holder: str = ""

    @property
    def lease_name(self) -> str:
        return f"obs-conformance-run-{self.run}"

    def _collection(self, prefix: str, resource: str) -> str:
        return f"{prefix}/namespaces/{self.namespace}/{resource}"

    # --- claim: the namespace (created only when absent) and the run's Lease -----------------------

    def claim(self, deadline: float = 120.0) -> None:
        """The namespace exists and is not terminating, and this run's Lease is in it (renewed now)."""

        def probe() -> Observation[str]:
            found = self.kube.get(f"/api/v1/namespaces/{self.namespace}")
            if found is None:
                self.kube.create(
                    "/api/v1/namespaces",
                    {"metadata": {"name": self.namespace, "labels": labels(self.run)}},
                )
                return Observation("created", False, "namespace created, not seen yet")
            phase = str(found.get("status", {}).get("phase", ""))
            if phase != "Active":
                return Observation(phase, False, f"namespace {phase} (a run before removes it)")
            try:
                self.renew()
            except BackendError as e:
                if e.status in (403, 404, 409) and "terminat" in str(e):
                    return Observation("terminating", False, "namespace terminating")
                raise
            return Observation("claimed", True, "claimed")

        wait_for(probe, deadline=deadline, max_interval=1.0, expected="namespace Active and the run's Lease in it",
                 where=f"Kubernetes API: namespace {self.namespace}")  # fmt: skip

    def renew(self) -> None:
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.lease_name, "namespace": self.namespace, "labels": labels(self.run)},
            "spec": {
                "holderIdentity": self.holder or this_holder(),
                "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": _micro(_now()),
            },
        }
        self.kube.apply(f"{self._collection(LEASES, 'leases')}/{self.lease_name}", lease, FIELD_MANAGER)

    def heartbeat(self, stop: threading.Event) -> threading.Thread:
        """Renews the Lease every third of its duration until ``stop`` is set (a daemon thread)."""

        def beat() -> None:
            while not stop.wait(LEASE_SECONDS / 3):
                try:
                    self.renew()
                except BackendError:
                    continue  # a missed renewal: the next one tries again; a holder on this host stays live anyway

        thread = threading.Thread(target=beat, name="obs-conformance-lease", daemon=True)
        thread.start()
        return thread

    # --- what is there ------------------------------------------------------------------------------

    def namespace_object(self) -> dict[str, Any] | None:
        return self.kube.get(f"/api/v1/namespaces/{self.namespace}")

    def live_runs(self) -> set[str]:
        leases = self.kube.list_all(f"{self._collection(LEASES, 'leases')}?labelSelector={RUN_LABEL}")
        return {lease["metadata"]["labels"][RUN_LABEL] for lease in leases if lease_is_live(lease)}

    def owns_lease(self) -> bool:
        return self.kube.get(f"{self._collection(LEASES, 'leases')}/{self.lease_name}") is not None

    # --- removal: through label selectors only -------------------------------------------------------

    def _delete_selected(self, selector: str) -> None:
        for prefix, resource in KINDS:
            try:
                self.kube.request(
                    "DELETE",
                    self._collection(prefix, resource),
                    params={"labelSelector": selector, "propagationPolicy": "Background"},
                )
            except BackendError as e:
                if e.status != 404:  # a kind the cluster lacks (no AlertmanagerConfig CRD) holds nothing
                    raise

    def remove_own(self) -> None:
        """This run's objects and its Lease; then the namespace, if a run of the suite created it and no
        other run is live in it."""
        self._delete_selected(f"{RUN_LABEL}={self.run}")
        self._remove_namespace_if_unused()

    def sweep(self) -> set[str]:
        """Objects of runs that are not live (a run killed before its end): deleted. The dead runs' ids."""
        if self.namespace_object() is None:
            return set()
        leases = self.kube.list_all(f"{self._collection(LEASES, 'leases')}?labelSelector={RUN_LABEL}")
        live = {lease["metadata"]["labels"][RUN_LABEL] for lease in leases if lease_is_live(lease)}
        live.add(self.run)
        dead = {lease["metadata"]["labels"][RUN_LABEL] for lease in leases} - live
        self._delete_selected(f"{RUN_LABEL},{RUN_LABEL} notin ({','.join(sorted(live))})")
        if not live - {self.run}:
            self._remove_namespace_if_unused()
        return dead

    def _remove_namespace_if_unused(self, deadline: float = 120.0) -> None:
        found = self.namespace_object()
        if found is None or RUN_LABEL not in (found["metadata"].get("labels") or {}):
            return  # not the suite's: it stays (an in-cluster run's namespace comes from its chart)
        if self.live_runs() - {self.run}:
            return
        self.kube.delete(f"/api/v1/namespaces/{self.namespace}")

        def gone() -> Observation[str]:
            left = self.namespace_object()
            phase = "gone" if left is None else str(left.get("status", {}).get("phase", ""))
            return Observation(phase, left is None, f"namespace {phase}")

        # waits: a namespace still terminating would make the next run's claim wait instead
        wait_for(gone, deadline=deadline, max_interval=1.0, expected="namespace gone",
                 where=f"Kubernetes API: namespace {self.namespace}")  # fmt: skip

    def left_over(self) -> list[str]:
        """``kind/name`` of every object with the suite's label left in the namespace (for reports and tests)."""
        found = []
        for prefix, resource in KINDS:
            for obj in self.kube.list_all(f"{self._collection(prefix, resource)}?labelSelector={RUN_LABEL}"):
                found.append(f"{resource}/{obj['metadata']['name']}")
        return found
