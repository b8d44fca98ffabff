"""helm, pinned and built from the Go module proxy, version-stamped as its release Makefile does.

Unstamped, helm calls itself ``v3.22`` and assumes Kubernetes v1.20.0, so charts with a
``kubeVersion`` constraint (ingress-nginx, kube-prometheus-stack) refuse to render. The
Makefile stamps the version and derives the default Kubernetes version from the
``k8s.io/client-go`` the module requires (v0.N.x -> v1.N); so does this recipe.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from obs_conformance.deployer import pins
from obs_conformance.deployer.errors import BuildError
from obs_conformance.deployer.toolchain.gobuild import build_lock, cache_dir, download_module, install_into
from obs_conformance.deployer.toolchain.progress import say

HELM_MODULE = "helm.sh/helm/v3"
HELM_PACKAGE = f"{HELM_MODULE}/cmd/helm"


def default_kube_version(go_mod: str) -> tuple[str, str]:
    """(major, minor) as the Makefile derives them from the module's client-go requirement."""
    found = re.search(r"^\s*k8s\.io/client-go v0\.(\d+)\.\d+", go_mod, re.MULTILINE)
    if found is None:
        raise BuildError(f"{HELM_MODULE}@{pins.HELM_VERSION}: go.mod requires no k8s.io/client-go v0.N.x")
    return "1", found.group(1)


def ldflags(go_mod: str) -> str:
    major, minor = default_kube_version(go_mod)
    flags = [
        "-s",
        "-w",
        f"-X {HELM_MODULE}/internal/version.version={pins.HELM_VERSION}",
        f"-X {HELM_MODULE}/internal/version.metadata=",
        f"-X {HELM_MODULE}/internal/version.gitTreeState=clean",
    ]
    for package in ("pkg/lint/rules", "pkg/chartutil"):
        flags += [
            f"-X {HELM_MODULE}/{package}.k8sVersionMajor={major}",
            f"-X {HELM_MODULE}/{package}.k8sVersionMinor={minor}",
        ]
    return " ".join(flags)


def build_helm() -> Path:
    """The helm binary of ``pins.HELM_VERSION``, built once into the cache."""
    with build_lock(f"helm-{pins.HELM_VERSION}"):
        binary = cache_dir() / "bin" / f"helm-{pins.HELM_VERSION}"
        if binary.is_file():
            return binary
        logs = cache_dir() / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        say(f"building helm {HELM_MODULE}@{pins.HELM_VERSION} (first run only)")
        go_mod = (download_module(HELM_MODULE, pins.HELM_VERSION, logs) / "go.mod").read_text()
        flags = ["-trimpath", f"-ldflags={ldflags(go_mod)}"]
        return install_into(binary, HELM_PACKAGE, pins.HELM_VERSION, flags, what="compiling helm")


def helm_version(binary: Path) -> str:
    """What the binary says it is (``helm version --template``), to prove the stamp."""
    out = subprocess.run(
        [str(binary), "version", "--template", "{{ .Version }}"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return out.stdout.strip()
