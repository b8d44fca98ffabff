"""Building the Go backends through the Go module proxy into a cache reused by later runs.

Two ways, as SPEC.md describes: the collector through the official builder
(``go install``-able), and modules with replace directives (Jaeger) from a copy of
their downloaded source, since ``go install`` refuses those.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from obs_conformance.clients.errors import WaitTimeout
from obs_conformance.deployer import pins
from obs_conformance.deployer.errors import BuildError
from obs_conformance.deployer.toolchain import locks
from obs_conformance.deployer.toolchain.progress import log_tail, run_logged, say

BUILD_TIMEOUT = 40 * 60.0


def cache_dir() -> Path:
    base = os.environ.get("OBSCONF_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "obs-conformance"
    )
    return Path(base)


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CGO_ENABLED", "0")
    env["GOFLAGS"] = "-mod=mod -buildvcs=false"
    return env


def download_module(module: str, version: str, logs: Path) -> Path:
    log = logs / f"download-{module.replace('/', '_')}.log"
    try:
        out = subprocess.run(
            ["go", "mod", "download", "-json", f"{module}@{version}"],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
            env=go_env(),
            cwd=logs,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BuildError(f"{module}@{version}: go mod download failed: {e}") from e
    log.write_text(out.stdout + out.stderr)
    try:
        info = json.loads(out.stdout)
    except json.JSONDecodeError:
        info = {}
    if out.returncode != 0 or "Dir" not in info:
        reason = info.get("Error") or out.stderr.strip()[-500:]
        raise BuildError(f"{module}@{version}: go mod download failed: {reason}")
    return Path(info["Dir"])


def make_writable(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def _ldflags(module: str, version: str, stamp: str) -> str:
    """Strip, and stamp the release version as the project's .promu.yml does (module zips carry no git)."""
    if not stamp:
        return "-s -w"
    where = "github.com/prometheus/common/version"
    fields = {
        "Version": stamp,
        "Revision": f"{module.rsplit('/', 1)[-1]}@{version}",
        "Branch": "HEAD",
        "BuildUser": "obs-conformance",
        "BuildDate": time.strftime("%Y%m%d-%H:%M:%S", time.gmtime()),
    }
    return " ".join(["-s", "-w", *(f"-X {where}.{key}={value}" for key, value in fields.items())])


@contextmanager
def build_lock(name: str) -> Iterator[None]:
    """One build of ``name`` at a time per cache: ``up``, parallel test workers and other
    processes may ask at once, and two builds in one module copy delete each other's files."""
    path = cache_dir() / "locks" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:  # closing it releases the lock
        try:
            locks.lock_exclusive(
                handle,
                path,
                deadline=BUILD_TIMEOUT,
                what=f"another build of {name}",
                first_interval=0.1,
                max_interval=2.0,
            )
        except WaitTimeout as e:
            raise BuildError(str(e)) from None
        yield


def compile_logged(argv: Sequence[str], *, what: str, subject: str, log: Path, cwd: Path, env: dict[str, str]) -> None:
    """One compile step with progress lines; a failure names what was built and ends with the log's tail."""
    code = run_logged(list(argv), what=what, log=log, timeout=BUILD_TIMEOUT, cwd=cwd, env=env)
    if code != 0:
        raise BuildError(f"{subject}: `{' '.join(argv)}` failed (exit {code}); log {log}:\n{log_tail(log)}")


def install_into(binary: Path, package: str, version: str, flags: Sequence[str], what: str) -> Path:
    """``go install package@version`` (``flags`` before it), its executable moved to ``binary``."""
    cache = cache_dir()
    logs = cache / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    gobin = cache / "gobin" / binary.name
    shutil.rmtree(gobin, ignore_errors=True)
    argv = ["go", "install", *flags, f"{package}@{version}"]
    env = {**go_env(), "GOBIN": str(gobin)}
    log = logs / f"install-{binary.name}.log"
    compile_logged(argv, what=what, subject=f"{package}@{version}", log=log, cwd=logs, env=env)
    binary.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(gobin / package.rsplit("/", 1)[-1]), binary)
    shutil.rmtree(gobin, ignore_errors=True)
    return binary


def go_install(spec: pins.GoInstallable) -> Path:
    """The binary of a go-installable command, installed once per version."""
    with build_lock(f"{spec.name}-{spec.version}"):
        return _go_install(spec)


def _go_install(spec: pins.GoInstallable) -> Path:
    binary = cache_dir() / "bin" / f"{spec.name}-{spec.version}"
    if binary.is_file():
        return binary
    say(f"building {spec.name} {spec.package}@{spec.version} (first run only)")
    module = spec.package.rsplit("/cmd/", 1)[0]
    flags = ["-trimpath", f"-ldflags={_ldflags(module, spec.version, spec.stamp)}"]
    return install_into(binary, spec.package, spec.version, flags, what=f"compiling {spec.name}")


def build_source_module(spec: pins.SourceModule, adapt: Callable[[Path], Sequence[str]] | None = None) -> Path:
    """The binary of ``spec``, built once per version.

    ``adapt`` runs in the module copy before the build (e.g. dropping replace directives
    that point at nested modules, which module zips leave out) and returns extra ldflags.
    """
    with build_lock(f"{spec.name}-{spec.version}"):
        return _build_source_module(spec, adapt)


def _build_source_module(spec: pins.SourceModule, adapt: Callable[[Path], Sequence[str]] | None) -> Path:
    cache = cache_dir()
    binary = cache / "bin" / f"{spec.name}-{spec.version}"
    if binary.is_file():
        return binary
    logs = cache / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    say(f"building {spec.name} from {spec.module}@{spec.version} (first run only)")
    source = download_module(spec.module, spec.version, logs)
    work = cache / "src" / f"{spec.name}-{spec.version}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source, work, symlinks=True)
    make_writable(work)
    shutil.rmtree(work / "vendor", ignore_errors=True)
    extra = list(adapt(work)) if adapt is not None else []
    binary.parent.mkdir(parents=True, exist_ok=True)
    tmp = binary.with_suffix(".tmp")
    log = logs / f"build-{spec.name}.log"
    ldflags = " ".join([_ldflags(spec.module, spec.version, spec.stamp), *extra])
    argv = ["go", "build", "-trimpath", f"-ldflags={ldflags}", "-o", str(tmp), spec.package]
    subject = f"{spec.module}@{spec.version}"
    compile_logged(argv, what=f"compiling {spec.name}", subject=subject, log=log, cwd=work, env=go_env())
    tmp.rename(binary)
    shutil.rmtree(work, ignore_errors=True)
    return binary


def collector_manifest(output: Path) -> str:
    lines = [
        "dist:",
        "  name: otelcol-conformance",
        "  description: OpenTelemetry Collector with the components of the stack's collector config",
        f"  output_path: {output}",
        f"  version: {pins.OTELCOL_VERSION.lstrip('v')}",
    ]
    for kind, components in pins.OTELCOL_COMPONENTS.items():
        lines.append(f"{kind}:")
        lines += [f"  - gomod: {component}" for component in components]
    return "\n".join(lines) + "\n"


def build_collector() -> Path:
    """The collector binary for the pinned manifest, built once per manifest."""
    with build_lock(f"otelcol-{pins.OTELCOL_VERSION}"):
        return _build_collector()


def _build_collector() -> Path:
    cache = cache_dir()
    digest = hashlib.sha256(collector_manifest(Path("-")).encode()).hexdigest()[:12]
    binary = cache / "bin" / f"otelcol-{pins.OTELCOL_VERSION}-{digest}"
    if binary.is_file():
        return binary
    logs = cache / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    builder = cache / "bin" / f"ocb-{pins.OTELCOL_VERSION}"
    if not builder.is_file():
        say(f"installing the collector builder {pins.OTELCOL_BUILDER}@{pins.OTELCOL_VERSION}")
        install_into(builder, pins.OTELCOL_BUILDER, pins.OTELCOL_VERSION, [], what="installing the builder")
    work = cache / "src" / f"otelcol-{digest}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    manifest = work / "manifest.yaml"
    manifest.write_text(collector_manifest(work / "out"))
    say(f"building the OpenTelemetry Collector {pins.OTELCOL_VERSION} (first run only)")
    log = logs / "build-otelcol.log"
    compile_logged(
        [str(builder), "--config", str(manifest)],
        what="compiling the collector",
        subject=f"OpenTelemetry Collector (manifest {manifest})",
        log=log,
        cwd=work,
        env=go_env(),
    )
    shutil.move(str(work / "out" / "otelcol-conformance"), binary)
    shutil.rmtree(work, ignore_errors=True)
    return binary
