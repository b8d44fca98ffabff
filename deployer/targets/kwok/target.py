"""The kwok target (``python -m deployer local up --env kwok``): the control plane, then whatever
else the providers below declare, as one local target."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from obs_conformance.deployer.engine.component import Component, Rendered
from obs_conformance.deployer.engine.layout import Layout
from obs_conformance.deployer.targets.kwok import pki as kube_pki
from obs_conformance.deployer.targets.kwok.components import (
    KUBERNETES_SERVICE_IP,
    KubePlane,
    control_plane,
    volume_directories,
)
from obs_conformance.deployer.targets.kwok.operators import operators
from obs_conformance.deployer.toolchain import kube_build
from obs_conformance.envconf import Environment

# Who adds components to the kwok target, in start order: each takes the KubePlane (env,
# state layout, binaries, PKI, kubeconfigs, admin API) and returns its components. The
# operators (deployer/targets/kwok/operators.py) join as ``(control_plane, operators)``.
KUBE_PROVIDERS: Sequence[Callable[[KubePlane], list[Component]]] = (control_plane, operators)


@dataclass
class KubeTarget:
    env: Environment
    layout: Layout
    title: str = "kwok control plane"

    @property
    def plane(self) -> KubePlane:
        return KubePlane(self.env, self.layout, kube_build.kube_binaries())

    def build(self) -> None:
        """Nothing shared: each component builds what it runs (the control plane: one module copy)."""

    def prepare(self) -> list[Rendered]:
        self.layout.data("etcd").mkdir(parents=True, exist_ok=True, mode=0o700)
        self.layout.data("kwok").mkdir(parents=True, exist_ok=True)
        kube_pki.ensure_pki(
            self.plane.pki.directory,
            self.env.name,
            KUBERNETES_SERVICE_IP,
            ("kube-controller-manager", "kube-scheduler"),
        )
        return []

    def components(self) -> list[Component]:
        plane = self.plane
        return [component for provider in KUBE_PROVIDERS for component in provider(plane)]

    def data(self) -> list[Path]:
        """etcd's and kwok's data, and the directories of the hostpath volumes the API still lists."""
        return [self.layout.data("etcd"), self.layout.data("kwok"), *volume_directories(self.plane.api)]

    def generated_secrets(self) -> list[str]:
        return []  # keys and certificates stay in 0600 files, never printed
