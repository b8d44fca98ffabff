"""Installing the stack's Debian packages when they are missing."""

from __future__ import annotations

import glob
import os
import subprocess

from obs_conformance.deployer import pins
from obs_conformance.deployer.errors import InstallError
from obs_conformance.deployer.toolchain.progress import say

APT_TIMEOUT = 20 * 60.0


def missing_packages() -> list[str]:
    return [name for name, marker in pins.DEBIAN_PACKAGES.items() if not glob.glob(marker)]


def ensure_packages() -> None:
    """apt-get install what is missing; as a non-root user, say which command to run."""
    missing = missing_packages()
    if not missing:
        return
    command = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        raise InstallError(f"missing Debian packages {', '.join(missing)}: run `sudo {' '.join(command)}`")
    say(f"installing Debian packages: {', '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], command):
        try:
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as e:
            raise InstallError(f"`{' '.join(argv)}` timed out after {APT_TIMEOUT:.0f}s") from e
        if done.returncode != 0:
            raise InstallError(f"`{' '.join(argv)}` failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    still = missing_packages()
    if still:
        raise InstallError(f"installed, yet still missing: {', '.join(still)}")
