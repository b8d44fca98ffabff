"""Running and spawning programs: the one module above the builds that imports :mod:`subprocess`.

Everything else (the cluster deploy, the engine's daemons, the fixtures' port-forwards, the
suites' promtool) goes through :func:`run` (to completion, with a timeout, never a shell) or
:func:`spawn` (a long-running process), and names the result with :data:`Process` and
:data:`Completed`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from subprocess import TimeoutExpired
from typing import IO

__all__ = ["Completed", "Process", "TimeoutExpired", "run", "spawn", "stop"]

Completed = subprocess.CompletedProcess[str]
Process = subprocess.Popen[bytes]


def run(
    argv: Sequence[str | Path],
    *,
    timeout: float,
    input: str | None = None,  # noqa: A002 - subprocess' name for it
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> Completed:
    """``argv`` to completion, output captured as text, its exit status left to the caller.

    Raises ``OSError`` (no such program) and :class:`TimeoutExpired` as :mod:`subprocess` does.
    """
    return subprocess.run(
        [str(a) for a in argv], input=input, env=env, cwd=cwd, user=user,
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def spawn(
    argv: Sequence[str | Path],
    *,
    stdout: IO[bytes] | None = None,
    stderr: IO[bytes] | None = None,
    merge_stderr: bool = False,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    new_session: bool = False,
) -> Process:
    """``argv`` started and left running; output not given a file goes nowhere (a pipe nobody reads
    would block the program once full); ``merge_stderr`` sends stderr where stdout goes."""
    return subprocess.Popen(
        [str(a) for a in argv],
        stdin=subprocess.DEVNULL,
        stdout=stdout if stdout is not None else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if merge_stderr else (stderr if stderr is not None else subprocess.DEVNULL),
        env=env,
        cwd=cwd,
        user=user,
        start_new_session=new_session,
    )


def stop(processes: Sequence[Process], grace: float) -> None:
    """Terminate them all, then wait for each up to ``grace`` seconds, killing one that is still there."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=grace)
        except TimeoutExpired:
            process.kill()
            process.wait(timeout=grace)
