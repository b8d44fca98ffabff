"""Deadline polling: fast first polls, then back-off, and an error that tells what was seen.

Why not ``time.sleep`` in a loop: the first moment data is visible is also the
send-to-visible latency the suites report, so polls start every 20 ms and back
off to at most ``max_interval``; the deadline is on ``time.monotonic()``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from clients.errors import BackendUnreachable, WaitTimeout

T = TypeVar("T")

_wakeup = threading.Event()  # never set: Event.wait is an interruptible, deadline-bounded pause


@dataclass(frozen=True)
class Observation(Generic[T]):
    """What one poll saw: the value, whether it satisfies the wait, and how to describe it."""

    value: T
    ok: bool
    shown: str


@dataclass(frozen=True)
class Patience:
    """How long to wait for one signal, and the longest pause between two polls."""

    deadline: float
    max_interval: float


@dataclass(frozen=True)
class Waited(Generic[T]):
    """A successful wait: the value and how long it took to become visible."""

    value: T
    seconds: float
    polls: int


def wait_for(
    probe: Callable[[], Observation[T]],
    *,
    expected: str,
    where: str,
    deadline: float = 0.0,
    patience: Patience | None = None,
    first_interval: float = 0.02,
    max_interval: float = 1.0,
    unreachable_grace: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], object] = _wakeup.wait,
) -> Waited[T]:
    """Call ``probe`` until it reports ``ok`` or ``deadline`` seconds have passed.

    A :class:`BackendUnreachable` counts as "not yet" for ``unreachable_grace``
    seconds in a row (a restarting backend comes back); past that the wait ends
    early, since a backend that stays down will not show the data in time.
    Any other error propagates at once: it is no matter of waiting.
    """
    __tracebackhide__ = True
    if patience is not None:
        deadline, max_interval = patience.deadline, patience.max_interval
    start = clock()
    interval = first_interval
    last_seen = "nothing (no poll completed)"
    polls = 0
    down_since: float | None = None
    while True:
        polls += 1
        try:
            seen = probe()
        except BackendUnreachable as e:
            last_seen = f"error: {e}"
            down_since = clock() if down_since is None else down_since
        else:
            down_since = None
            if seen.ok:
                return Waited(seen.value, clock() - start, polls)
            last_seen = seen.shown
        elapsed = clock() - start
        unreachable_for = clock() - down_since if down_since is not None else 0.0
        if elapsed >= deadline or unreachable_for >= min(unreachable_grace, deadline):
            why = f"within {deadline:g}s" if elapsed >= deadline else f"(unreachable for {unreachable_for:.1f}s)"
            raise WaitTimeout(
                f"{expected} not seen {why} ({polls} polls)\n  looked at: {where}\n  last seen: {last_seen}"
            )
        pause(min(interval, max(deadline - elapsed, 0.0)))
        interval = min(interval * 1.5, max_interval)


def hold(
    check: Callable[[], None],
    *,
    window: float,
    max_interval: float = 0.25,
    pause: Callable[[float], object] = _wakeup.wait,
) -> None:
    """Call ``check`` until ``window`` seconds have passed; it raises the moment what must not happen does.

    For "nothing arrives" checks (a silenced alert, a deduplicated one): bounded by
    a deadline like every wait, and failing at the first violation, not at the end.
    """
    __tracebackhide__ = True
    end = time.monotonic() + window
    interval = 0.02
    while True:
        check()
        remaining = end - time.monotonic()
        if remaining <= 0:
            return
        pause(min(interval, remaining))
        interval = min(interval * 1.5, max_interval)
