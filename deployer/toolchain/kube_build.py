"""The kwok target's binaries, built from the Go module proxy into the cache, once per version.

One copy of the k8s.io/kubernetes module builds kube-apiserver, kube-controller-manager,
kube-scheduler, kubectl and etcd (the etcd server its go.mod requires: ``go install`` of
etcd is refused for its replace directives, inside this module it builds). The module
zip leaves out ``staging/``, so the ``k8s.io/*`` replaces into it are dropped for the
published twins (v1.33.13 -> v0.33.13). Binaries are version-stamped as the release
build does, or ``/version`` says v0.0.0-master and charts' ``kubeVersion`` checks fail.
kwok is ``go install``-able; its standard stages ship in its module.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from obs_conformance.deployer import pins
from obs_conformance.deployer.errors import BuildError
from obs_conformance.deployer.toolchain.gobuild import (
    BUILD_TIMEOUT,
    build_lock,
    cache_dir,
    compile_logged,
    download_module,
    go_env,
    install_into,
    make_writable,
)
from obs_conformance.deployer.toolchain.progress import say

KUBERNETES_MODULE = "k8s.io/kubernetes"
KWOK_MODULE = "sigs.k8s.io/kwok"
# the packages built from the module copy, by the name of their binary
KUBE_PACKAGES = {
    "kube-apiserver": "./cmd/kube-apiserver",
    "kube-controller-manager": "./cmd/kube-controller-manager",
    "kube-scheduler": "./cmd/kube-scheduler",
    "kubectl": "./cmd/kubectl",
    "etcd": "go.etcd.io/etcd/server/v3",
}
# kwok's standard stages: node initialize, heartbeat with lease, pod ready/complete/delete
KWOK_STAGES = "kustomize/stage/fast"


@dataclass(frozen=True)
class KubeBinaries:
    """Where each binary of the control plane is (or will be, once built)."""

    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    etcd: Path
    kwok: Path
    kwok_stages: Path

    def missing(self) -> list[Path]:
        return [path for path in vars(self).values() if not path.is_file()]


def _cached(name: str, version: str) -> Path:
    return cache_dir() / "bin" / f"{name}-{version}"


def kube_binaries() -> KubeBinaries:
    """The paths, without building anything (``status`` and ``down`` need them only to name things)."""
    version = pins.KUBERNETES_VERSION
    return KubeBinaries(
        kube_apiserver=_cached("kube-apiserver", version),
        kube_controller_manager=_cached("kube-controller-manager", version),
        kube_scheduler=_cached("kube-scheduler", version),
        kubectl=_cached("kubectl", version),
        etcd=_cached("etcd-for-kube", version),
        kwok=_cached("kwok", pins.KWOK_VERSION),
        kwok_stages=cache_dir() / "share" / f"kwok-stages-{pins.KWOK_VERSION}.yaml",
    )


def kubectl() -> Path:
    """The project's kubectl (the pinned Kubernetes version), built on first use.

    Not whatever ``kubectl`` is on PATH: on some machines that is a cloud SDK's wrapper.
    """
    path = kube_binaries().kubectl
    if not path.is_file():
        with build_lock(f"kubernetes-{pins.KUBERNETES_VERSION}"):
            if not path.is_file():
                _build_kube_module({"kubectl": path})
    return path


def build_kube() -> KubeBinaries:
    """Every binary of the control plane, building what is missing (minutes, first run only)."""
    bins = kube_binaries()
    if not bins.missing():
        return bins
    with build_lock(f"kubernetes-{pins.KUBERNETES_VERSION}"):
        wanted = {
            "kube-apiserver": bins.kube_apiserver,
            "kube-controller-manager": bins.kube_controller_manager,
            "kube-scheduler": bins.kube_scheduler,
            "kubectl": bins.kubectl,
            "etcd": bins.etcd,
        }
        missing = {name: path for name, path in wanted.items() if not path.is_file()}
        if missing:
            _build_kube_module(missing)
        if not bins.kwok.is_file():
            _install_kwok(bins.kwok)
        if not bins.kwok_stages.is_file():
            _write_stages(bins.kwok_stages)
    return bins


def version_ldflags(version: str) -> str:
    """``-X`` flags stamping ``version`` (v1.33.13) where the release build (hack/lib/version.sh) does."""
    major, minor = version.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
        ]
    return " ".join(flags)


def staging_edits(go_mod: dict[str, object], version: str) -> list[str]:
    """``go mod edit`` flags that point every ``./staging`` replace at its published module.

    The proxy serves ``k8s.io/api`` etc. at v0.N.P for Kubernetes v1.N.P; the ``sample-*``
    modules are not published and no binary imports them, so their requirements go.
    """
    twin = "v0" + version.lstrip("v")[1:]
    flags: list[str] = []
    replaces = go_mod.get("Replace") or []
    assert isinstance(replaces, list)
    for replace in replaces:
        old, new = replace["Old"]["Path"], replace["New"]["Path"]
        if not new.startswith("./staging"):
            continue
        flags.append(f"-dropreplace={old}")
        flags.append(f"-droprequire={old}" if "/sample-" in old else f"-require={old}@{twin}")
    return flags


def _run(argv: list[str], cwd: Path, what: str) -> str:
    try:
        done = subprocess.run(
            argv, cwd=cwd, env=go_env(), capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BuildError(f"{what}: `{' '.join(argv)}` failed: {e}") from e
    if done.returncode != 0:
        raise BuildError(f"{what}: `{' '.join(argv)}` failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    return done.stdout


def _build_kube_module(wanted: dict[str, Path]) -> None:
    version = pins.KUBERNETES_VERSION
    what = f"{KUBERNETES_MODULE}@{version}"
    cache = cache_dir()
    logs = cache / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    say(
        f"building {', '.join(wanted)} from {what} (first run only: about 15 min on 2 cores for the "
        "whole control plane; cached in the Go build cache and in " + str(cache / "bin") + ")"
    )
    source = download_module(KUBERNETES_MODULE, version, logs)
    work = cache / "src" / f"kubernetes-{version}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source, work, symlinks=True)
    make_writable(work)
    for name in ("go.work", "go.work.sum"):
        (work / name).unlink(missing_ok=True)
    edits = staging_edits(json.loads(_run(["go", "mod", "edit", "-json"], work, what)), version)
    if edits:
        _run(["go", "mod", "edit", *edits], work, what)
    ldflags = version_ldflags(version)
    start = time.monotonic()
    for index, (name, binary) in enumerate(wanted.items(), 1):
        binary.parent.mkdir(parents=True, exist_ok=True)
        tmp = binary.with_suffix(".tmp")
        log = logs / f"build-{name}.log"
        argv = ["go", "build", "-trimpath", f"-ldflags={ldflags}", "-o", str(tmp), KUBE_PACKAGES[name]]
        step = f"compiling {name} ({index}/{len(wanted)})"
        compile_logged(argv, what=step, subject=what, log=log, cwd=work, env=go_env())
        tmp.rename(binary)
    say(f"built {', '.join(wanted)} in {time.monotonic() - start:.0f}s")
    shutil.rmtree(work, ignore_errors=True)


def _install_kwok(binary: Path) -> None:
    package = f"{KWOK_MODULE}/cmd/kwok"
    say(f"building kwok from {package}@{pins.KWOK_VERSION} (first run only: about 3 min on 2 cores)")
    install_into(binary, package, pins.KWOK_VERSION, ["-trimpath", "-ldflags=-s -w"], what="compiling kwok")


def stage_documents(root: Path, directory: str) -> list[str]:
    """The Stage YAML files a kustomization directory lists, following directory resources."""
    kustomization = yaml.safe_load((root / directory / "kustomization.yaml").read_text())
    found: list[str] = []
    for resource in kustomization.get("resources", []):
        path = (root / directory / resource).resolve()
        relative = str(path.relative_to(root.resolve()))
        found += stage_documents(root, relative) if path.is_dir() else [relative]
    return found


def _write_stages(target: Path) -> None:
    logs = cache_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    source = download_module(KWOK_MODULE, pins.KWOK_VERSION, logs)
    documents = [(source / name).read_text().strip() for name in stage_documents(source, KWOK_STAGES)]
    if not documents:
        raise BuildError(f"{KWOK_MODULE}@{pins.KWOK_VERSION}: no stages under {KWOK_STAGES}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n---\n".join(documents) + "\n")
