"""Building the operators the kwok target runs as processes, at the versions the pinned charts deploy.

- prometheus-operator: its go.mod replaces its two nested modules by directories that
  module zips leave out (so ``go install`` refuses it and a plain copy does not build);
  the replaces are dropped, and the proxy serves both at the same version.
- opentelemetry-operator: built from a copy, stamped with the versions of its
  ``versions.txt`` as its Makefile does (the default collector and instrumentation images
  come from those stamps).
- cert-manager: the controller's own entry point lives in a module the proxy does not
  serve and links the Venafi issuer, whose module the proxy refuses. The project builds
  its own small entry point (``deployer/toolchain/certmanager``) against the unmodified
  cert-manager module; it is rebuilt when that directory changes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path

from obs_conformance.deployer import pins
from obs_conformance.deployer.errors import BuildError
from obs_conformance.deployer.toolchain import gobuild
from obs_conformance.deployer.toolchain.progress import say

CERT_MANAGER_SOURCE = Path(__file__).resolve().parent / "certmanager"
CERT_MANAGER_MODULE = "github.com/cert-manager/cert-manager"
OTEL_VERSION_PACKAGE = "github.com/open-telemetry/opentelemetry-operator/internal/version"
# versions.txt key -> variable of OTEL_VERSION_PACKAGE, as the operator's Makefile maps them
OTEL_VERSION_KEYS = {
    "operator": "version",
    "opentelemetry-collector": "otelCol",
    "targetallocator": "targetAllocator",
    "operator-opamp-bridge": "operatorOpAMPBridge",
    "autoinstrumentation-java": "autoInstrumentationJava",
    "autoinstrumentation-nodejs": "autoInstrumentationNodeJS",
    "autoinstrumentation-python": "autoInstrumentationPython",
    "autoinstrumentation-dotnet": "autoInstrumentationDotNet",
    "autoinstrumentation-go": "autoInstrumentationGo",
    "autoinstrumentation-apache-httpd": "autoInstrumentationApacheHttpd",
    "autoinstrumentation-nginx": "autoInstrumentationNginx",
}
_GO_TIMEOUT = 120.0


def drop_local_replaces(work: Path) -> list[str]:
    """Drop every replace directive that points into the module's own tree; no extra ldflags."""
    edited = _go(["go", "mod", "edit", "-json"], work)
    replaces = json.loads(edited).get("Replace") or []
    local = [r["Old"]["Path"] for r in replaces if r["New"]["Path"].startswith(("./", "../"))]
    if local:
        _go(["go", "mod", "edit", *(f"-dropreplace={path}" for path in local)], work)
    return []


def versions_txt_ldflags(text: str) -> list[str]:
    """The ``-X`` flags of the OpenTelemetry operator's Makefile, from its versions.txt."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            found[key.strip()] = value.strip()
    missing = sorted(set(OTEL_VERSION_KEYS) - set(found))
    if missing:
        raise BuildError(f"opentelemetry-operator versions.txt lacks {', '.join(missing)}")
    flags = [f"-X {OTEL_VERSION_PACKAGE}.{var}={found[key]}" for key, var in OTEL_VERSION_KEYS.items()]
    flags.append(f"-X {OTEL_VERSION_PACKAGE}.buildDate={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
    return flags


def _versions_txt(work: Path) -> list[str]:
    return versions_txt_ldflags((work / "versions.txt").read_text())


def _go(argv: list[str], cwd: Path) -> str:
    try:
        done = subprocess.run(
            argv, cwd=cwd, env=gobuild.go_env(), capture_output=True, text=True, timeout=_GO_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BuildError(f"`{' '.join(argv)}` in {cwd}: {e}") from e
    if done.returncode != 0:
        raise BuildError(f"`{' '.join(argv)}` in {cwd} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return done.stdout


def _source_binary(spec: pins.SourceModule) -> Path:
    """Where gobuild.build_source_module puts ``spec``'s binary (known without building)."""
    return gobuild.cache_dir() / "bin" / f"{spec.name}-{spec.version}"


def prometheus_operator_binary() -> Path:
    return _source_binary(pins.PROMETHEUS_OPERATOR)


def opentelemetry_operator_binary() -> Path:
    return _source_binary(pins.OPENTELEMETRY_OPERATOR)


def cert_manager_binary() -> Path:
    return gobuild.cache_dir() / "bin" / f"cert-manager-controller-{pins.CERT_MANAGER_VERSION}-{cert_manager_digest()}"


def build_prometheus_operator() -> Path:
    return _built(
        gobuild.build_source_module(pins.PROMETHEUS_OPERATOR, drop_local_replaces), prometheus_operator_binary()
    )


def build_opentelemetry_operator() -> Path:
    return _built(
        gobuild.build_source_module(pins.OPENTELEMETRY_OPERATOR, _versions_txt), opentelemetry_operator_binary()
    )


def _built(binary: Path, expected: Path) -> Path:
    if binary != expected:
        raise BuildError(f"built {binary}, but the kwok target runs {expected}")
    return binary


def cert_manager_digest(source: Path = CERT_MANAGER_SOURCE) -> str:
    """Changes with the entry point's sources (main.go, go.mod, go.sum): the binary is rebuilt then."""
    digest = hashlib.sha256()
    for path in sorted(source.iterdir()):
        if path.is_file() and path.suffix in (".go", ".mod", ".sum"):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def build_cert_manager() -> Path:
    """The project's cert-manager controller entry point, linked against cert-manager at the chart's version.

    One build at a time (``up`` and test processes may ask at once: they shared a work copy and a
    ``.tmp`` output, and one renamed the other's binary away); the binary is looked for again under the lock."""
    binary = cert_manager_binary()
    if binary.is_file():
        return binary
    with gobuild.build_lock("cert-manager-controller"):
        if not binary.is_file():
            _compile_cert_manager(binary)
    return binary


def _compile_cert_manager(binary: Path) -> None:
    cache = gobuild.cache_dir()
    version = pins.CERT_MANAGER_VERSION
    required = _required_version(CERT_MANAGER_SOURCE / "go.mod", CERT_MANAGER_MODULE)
    if required != version:
        raise BuildError(
            f"cert-manager controller: {CERT_MANAGER_SOURCE / 'go.mod'} requires {CERT_MANAGER_MODULE} "
            f"{required or '(nothing)'}, pins.CERT_MANAGER_VERSION is {version}"
        )
    logs = cache / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    say(f"building the cert-manager controller against {CERT_MANAGER_MODULE}@{version} (first run only)")
    work = cache / "src" / f"cert-manager-controller-{version}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(CERT_MANAGER_SOURCE, work)
    binary.parent.mkdir(parents=True, exist_ok=True)
    tmp = binary.with_name(binary.name + ".tmp")
    log = logs / "build-cert-manager-controller.log"
    ldflags = f"-s -w -X {CERT_MANAGER_MODULE}/pkg/util.AppVersion={version}"
    argv = ["go", "build", "-trimpath", f"-ldflags={ldflags}", "-o", str(tmp), "."]
    gobuild.compile_logged(
        argv, what="compiling the cert-manager controller", subject="cert-manager controller", log=log, cwd=work,
        env=gobuild.go_env(),
    )  # fmt: skip
    tmp.rename(binary)
    shutil.rmtree(work, ignore_errors=True)


def _required_version(go_mod: Path, module: str) -> str:
    for line in go_mod.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in (module, "require") and module in parts:
            return parts[parts.index(module) + 1]
    return ""
