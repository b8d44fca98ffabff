"""The suites' container image, built and run with podman on this machine: ``python container/image.py all``.

- ``base``: a Debian bookworm base made with debootstrap (no registry is reachable here), imported as
  ``localhost/obs-conformance-base:bookworm``; skipped when it exists.
- ``build``: wheels of the project and its runtime dependencies built on the host (no dev extras), then
  ``container/Containerfile`` FROM that base; prints the image's size.
- ``run``: the local-stack suites from inside the container, on the host's network (the stack is on
  loopback), the env files and the stack's state mounted read-only, reports to ``reports/container/``.

podman runs with runc and cgroupfs and explicit nofile/nproc limits (../shared/CONTAINERS.md).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = "localhost/obs-conformance-base:bookworm"
IMAGE = "localhost/obs-conformance:latest"
MIRROR = "http://deb.debian.org/debian"
CACHE = Path.home() / ".cache" / "obs-conformance"
PODMAN = ["podman", "--runtime", "/usr/sbin/runc", "--cgroup-manager=cgroupfs"]
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


def run(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    print("+", " ".join(args), flush=True)
    return subprocess.run(args, check=True, timeout=timeout, text=True, stdout=subprocess.PIPE)


def exists(image: str) -> bool:
    return subprocess.run([*PODMAN, "image", "exists", image], timeout=60).returncode == 0


def base() -> None:
    if exists(BASE):
        print(f"{BASE}: exists")
        return
    with tempfile.TemporaryDirectory(prefix="obsconf-base-") as folder:
        run(
            "debootstrap",
            "--variant=minbase",
            "--include=python3,python3-venv,ca-certificates",
            "bookworm",
            folder,
            MIRROR,
            timeout=1200,
        )
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (Path(folder) / cache).glob("*"):
                if item.is_file():
                    item.unlink()
        for docs in ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale"):  # no reader here
            shutil.rmtree(Path(folder) / docs, ignore_errors=True)
        tar = subprocess.Popen(["tar", "-C", folder, "-c", "."], stdout=subprocess.PIPE)
        subprocess.run([*PODMAN, "import", "-", BASE], stdin=tar.stdout, check=True, timeout=600)
        tar.wait(timeout=60)


def build(base_image: str) -> None:
    with tempfile.TemporaryDirectory(prefix="obsconf-image-") as folder:
        context = Path(folder)
        shutil.copy(ROOT / "container" / "Containerfile", context / "Containerfile")
        run(
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--wheel-dir",
            str(context / "wheels"),
            str(ROOT),
            timeout=1200,
        )
        run(
            *PODMAN,
            "build",
            "--isolation",
            "chroot",
            *LIMITS,
            "--build-arg",
            f"BASE={base_image}",
            "-t",
            IMAGE,
            str(context),
            timeout=1200,
        )
    size = run(*PODMAN, "image", "inspect", IMAGE, "--format", "{{.Size}}").stdout.strip()
    base_size = run(*PODMAN, "image", "inspect", base_image, "--format", "{{.Size}}").stdout.strip()
    print(f"{IMAGE}: {int(size) / 2**20:.0f} MiB ({base_image}: {int(base_size) / 2**20:.0f} MiB)")


def run_suites(pytest_args: list[str]) -> int:
    reports = ROOT / "reports" / "container"
    reports.mkdir(parents=True, exist_ok=True)
    reports.chmod(0o777)  # the image's user (65532) writes its reports there
    state = ROOT / ".local-stack"
    command = [
        *PODMAN, "run", "--rm", "--network", "host", *LIMITS,
        "--user", "0:0",  # the local stack's state (its generated secrets, masked in reports) is root's, 0600
        # the collector check reads the running collector's config through /proc: the host's processes,
        # and their open sockets (which another user's process, root included, may read only with ptrace)
        "--pid", "host", "--cap-add", "SYS_PTRACE",
        "-v", f"{ROOT / 'environments'}:/work/environments:ro",
        # at the host's path, which the processes' command lines name; read-write: the pod-log checks
        # write the files the log agent tails
        "-v", f"{state}:{state}", "-e", f"OBSCONF_STATE={state}",
        # the pinned tools (promtool, helm) the host built: the image holds no compiler; read-write for their locks
        "-v", f"{CACHE}:/root/.cache/obs-conformance", "-e", "HOME=/root",
        "-v", f"{reports}:/work/reports",
        IMAGE,
        "python3", "-m", "pytest", "--pyargs", "obs_conformance.suites", "--env", "local", "--env-dir", "/work/environments",
        "--no-stack-up", "-p", "no:cacheprovider", *pytest_args,
    ]  # fmt: skip
    print("+", " ".join(command), flush=True)
    return subprocess.run(command, timeout=1800).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("step", choices=["base", "build", "run", "all"])
    parser.add_argument("--base", help=f"the image to build FROM (default: {BASE}, made by the base step)")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after --: given to pytest in the container")
    args = parser.parse_args()
    pytest_args = [a for a in args.pytest_args if a != "--"] or ["-m", "not k8s"]
    if args.step in {"base", "all"} and not args.base:
        base()
    if args.step in {"build", "all"}:
        build(args.base or BASE)
    if args.step in {"run", "all"}:
        return run_suites(pytest_args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
