"""File locks taken against a deadline: one build per cache entry, one ``up`` per state dir.

Parallel test workers and processes ask at once; the one that waits polls the lock
(the deadline poller, clients/polling.py) and, past the deadline, says which process held it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from obs_conformance.clients.polling import Observation, wait_for


def holder(handle: IO[str]) -> str:
    """Who holds the flock on ``handle``'s file, from /proc/locks: "pid N (command)", or "another process"."""
    inode = os.fstat(handle.fileno()).st_ino
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return "another process"
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; a waiter's line reads "1: -> FLOCK ..."
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].rsplit(":", 1)[-1] == str(inode):
            pid = fields[4]
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                command = ""
            return f"pid {pid} ({command.strip()[:120]})" if command.strip() else f"pid {pid}"
    return "another process"


def lock_exclusive(
    handle: IO[str], path: Path, *, deadline: float, what: str, first_interval: float, max_interval: float
) -> None:
    """Take an exclusive flock on ``handle`` (the open ``path``), waiting at most ``deadline`` seconds
    while another process holds it; raises clients.errors.WaitTimeout naming ``what`` and the holder."""

    def probe() -> Observation[bool]:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return Observation(False, False, f"held by {holder(handle)}")
        return Observation(True, True, "taken")

    wait_for(
        probe,
        expected=f"the lock released by {what}",
        where=str(path),
        deadline=deadline,
        first_interval=first_interval,
        max_interval=max_interval,
    )
