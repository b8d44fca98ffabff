"""Running a plan: each step reports what it did and how long it took; output is masked."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable

from obs_conformance.deployer.cluster.plan import Command, Step
from obs_conformance.deployer.toolchain import kube_build
from obs_conformance.deployer.toolchain.helm_build import build_helm
from obs_conformance.envconf import Environment

COMMAND_TIMEOUT = 15 * 60.0


class DeployError(Exception):
    """A deploy command failed; the message names the step and the command (secrets masked)."""


class Runner:
    def __init__(self, env: Environment, out: Callable[[str], None] = print, dry_run: bool = False) -> None:
        self.env = env
        self.out = out
        self.dry_run = dry_run

    def _masked(self, text: str) -> str:
        return self.env.mask(text)

    def _argv(self, command: Command) -> list[str]:
        """helm from PATH, else the project's pinned build (so a machine without helm can deploy);
        kubectl likewise, and always the pinned one for the kwok target (its API server's version)."""
        argv = list(command.argv)
        if argv[0] == "helm" and shutil.which("helm") is None:
            argv[0] = str(build_helm())
        if argv[0] == "kubectl" and (self.env.target == "kwok" or shutil.which("kubectl") is None):
            argv[0] = str(kube_build.kubectl())
        return argv

    def _execute(self, command: Command) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                self._argv(command),
                input=command.stdin.reveal() if command.stdin is not None else None,
                capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False,
            )  # fmt: skip
        except FileNotFoundError as e:
            raise DeployError(f"`{command.argv[0]}` is not installed (needed for: {command.shown()})") from e
        except subprocess.TimeoutExpired as e:
            raise DeployError(f"timed out after {COMMAND_TIMEOUT:.0f}s: {self._masked(command.shown())}") from e

    def _skip(self, command: Command) -> bool:
        if command.skip_if_listed is None or self.dry_run:
            return False
        probe, name = command.skip_if_listed
        listed = self._execute(Command(probe)).stdout.split()
        return name in listed

    def run(self, steps: list[Step]) -> None:
        for step in steps:
            start = time.monotonic()
            self.out(f"step {step.number}: {step.title}")
            for command in step.commands:
                self.out(f"  $ {self._masked(command.shown())}")
                if self.dry_run:
                    continue
                if self._skip(command):
                    self.out("    already there, skipped")
                    continue
                done = self._execute(command)
                if done.returncode != 0:
                    raise DeployError(
                        f"step {step.number} ({step.title}) failed: {self._masked(command.shown())} "
                        f"exited {done.returncode}: {self._masked(done.stderr.strip()[-800:])}"
                    )
                for line in self._masked(done.stdout).strip().splitlines()[-3:]:
                    self.out(f"    {line}")
            if not self.dry_run:
                self.out(f"  done in {time.monotonic() - start:.1f}s")
