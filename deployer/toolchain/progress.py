"""Progress lines for long steps: a heartbeat while a subprocess runs, so CI logs show life."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def say(message: str) -> None:
    print(f"[local-stack] {message}", file=sys.stderr, flush=True)


def run_logged(
    argv: Sequence[str],
    *,
    what: str,
    log: Path,
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    heartbeat: float = 30.0,
) -> int:
    """Run ``argv`` with output to ``log``, printing a heartbeat; return the exit code."""
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    done = threading.Event()

    def beat() -> None:
        while not done.wait(heartbeat):
            say(f"  still {what} ({time.monotonic() - start:.0f}s, log: {log})")

    ticker = threading.Thread(target=beat, daemon=True)
    ticker.start()
    try:
        with log.open("wb") as out:
            completed = subprocess.run(
                list(argv),
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        return completed.returncode
    except subprocess.TimeoutExpired:
        return -1
    finally:
        done.set()
        say(f"  {what}: {time.monotonic() - start:.0f}s")


def log_tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
