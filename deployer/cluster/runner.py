"""Running a plan: each step reports what it did and how long it took; output is masked."""

from __future__ import annotations

import time
from collections.abc import Callable

from obs_conformance.deployer.cluster import changes, release_changes
from obs_conformance.deployer.cluster.plan import Action, Step
from obs_conformance.deployer.toolchain.run import Completed, TimeoutExpired
from obs_conformance.deployer.toolchain.tools import Command
from obs_conformance.envconf import Environment

COMMAND_TIMEOUT = 15 * 60.0


class DeployError(Exception):
    """A deploy command failed; the message names the step and the command (secrets masked)."""


class Runner:
    def __init__(
        self,
        env: Environment,
        out: Callable[[str], None] = print,
        dry_run: bool = False,
        releases: release_changes.Reader | None = None,
    ) -> None:
        self.env = env
        self.out = out
        self.dry_run = dry_run
        # reads a helm release's manifest before and after its upgrade, to say per object what changed
        self.releases = releases

    def _release_before(self, action: Action) -> tuple[bool, release_changes.Record | None]:
        """(read, the release's latest record before the upgrade); not read without a reader or an API."""
        if self.releases is None or action.release is None:
            return False, None
        try:
            return True, self.releases(action.release.name, action.release.namespace)
        except release_changes.ReadError:
            return False, None

    def _release_report(self, action: Action, before: release_changes.Record | None) -> list[str]:
        assert self.releases is not None and action.release is not None
        try:
            after = self.releases(action.release.name, action.release.namespace)
        except release_changes.ReadError:
            return []
        return release_changes.report(before, after, action.release.namespace) if after is not None else []

    def _masked(self, text: str) -> str:
        return self.env.mask(text)

    def _execute(self, command: Command, shown: str) -> Completed:
        """The command's binary is the tool's to choose (PATH, else or always the pinned build)."""
        try:
            return command.run(timeout=COMMAND_TIMEOUT)
        except FileNotFoundError as e:
            raise DeployError(f"`{command.argv[0]}` is not installed (needed for: {shown})") from e
        except TimeoutExpired as e:
            raise DeployError(f"timed out after {COMMAND_TIMEOUT:.0f}s: {self._masked(shown)}") from e

    def _skip(self, action: Action) -> bool:
        if action.skip_if_listed is None or self.dry_run:
            return False
        probe, name = action.skip_if_listed
        listed = self._execute(probe, probe.shown()).stdout.split()
        return name in listed

    def run(self, steps: list[Step]) -> None:
        for step in steps:
            start = time.monotonic()
            self.out(f"step {step.number}: {step.title}")
            for action in step.actions:
                shown = action.shown()
                self.out(f"  $ {self._masked(shown)}")
                if self.dry_run:
                    continue
                if self._skip(action):
                    self.out("    already there, skipped")
                    continue
                before = self._execute(action.before, action.before.shown()) if action.before is not None else None
                release_read, release_before = self._release_before(action)
                done = self._execute(action.command, shown)
                if done.returncode != 0:
                    raise DeployError(
                        f"step {step.number} ({step.title}) failed: {self._masked(shown)} "
                        f"exited {done.returncode}: {self._masked(done.stderr.strip()[-800:])}"
                    )
                if before is not None:
                    # JSON of the objects (a Secret's data in it): never printed, only what changed where
                    after = changes.objects(done.stdout)
                    if any(not o.get("metadata", {}).get("managedFields") for o in after):
                        # the API server records no field manager for a Namespace created by a server-side
                        # apply (Kubernetes 1.33): applied once more now, the next up finds it unchanged
                        after = changes.objects(self._execute(action.command, shown).stdout) or after
                    for line in changes.report(changes.objects(before.stdout), after):
                        self.out(f"    {line}")
                    continue
                if release_read:
                    report = self._release_report(action, release_before)
                    if report:
                        for line in report:
                            self.out(f"    {self._masked(line)}")
                        continue
                for line in self._masked(done.stdout).strip().splitlines()[-3:]:
                    self.out(f"    {line}")
            if not self.dry_run:
                self.out(f"  done in {time.monotonic() - start:.1f}s")
