"""Deadline polling on tenacity: fast first polls, then back-off, and an error that tells what was seen.

The first moment data is visible is also the send-to-visible latency the suites
report, so polls start every 20 ms (``wait_exponential`` from ``first_interval``,
factor 1.5) and back off to at most ``max_interval``; the deadline (counted from the wait,
or from the send) ends the wait, and ``RetryError.last_attempt`` is what the timeout shows
as last seen.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_exponential,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from obs_conformance.clients.errors import BackendUnreachable, WaitTimeout

T = TypeVar("T")

_wakeup = threading.Event()  # never set: Event.wait is an interruptible, deadline-bounded pause
_origin: contextvars.ContextVar[float | None] = contextvars.ContextVar("obsconf_deadline_origin", default=None)


@contextmanager
def deadlines_from(when: float | None) -> Iterator[None]:
    """Waits inside that give no ``started_at`` count their deadline from ``when`` (``time.monotonic()``):
    a check's body whose data was sent ahead waits until its send's deadline, not one more deadline."""
    token = _origin.set(when)
    try:
        yield
    finally:
        _origin.reset(token)


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


class _UnreachableFor(stop_base):
    """Stop once every poll of the last ``grace`` seconds found the backend unreachable.

    tenacity's stops count attempts or time since the first one, not time since a run of failures began.
    """

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.since: float | None = None
        self.seconds = 0.0

    def __call__(self, retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        now = time.monotonic()
        if outcome is not None and outcome.failed and isinstance(outcome.exception(), BackendUnreachable):
            self.since = now if self.since is None else self.since
            self.seconds = now - self.since
            return self.seconds >= self.grace
        self.since, self.seconds = None, 0.0
        return False


class _PastEnd(stop_base):
    """Stop once the monotonic clock reaches ``end``: a deadline that may have begun before the wait (at a send)."""

    def __init__(self, end: float) -> None:
        self.end = end

    def __call__(self, retry_state: RetryCallState) -> bool:
        return time.monotonic() >= self.end


class _NotPastEnd(wait_base):
    """Another wait strategy's pause, cut so the last poll falls on ``end`` (monotonic), not after it."""

    def __init__(self, inner: wait_base, end: float) -> None:
        self.inner = inner
        self.end = end

    def __call__(self, retry_state: RetryCallState) -> float:
        return max(min(self.inner(retry_state), self.end - time.monotonic()), 0.0)


class _NotPast(wait_base):
    """Another wait strategy's pause, cut so the last poll falls on the deadline, not after it."""

    def __init__(self, inner: wait_base, deadline: float) -> None:
        self.inner = inner
        self.deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> float:
        remaining = self.deadline - (retry_state.seconds_since_start or 0.0)
        return max(min(self.inner(retry_state), remaining), 0.0)


def _backoff(first_interval: float, max_interval: float) -> wait_base:
    return wait_exponential(multiplier=first_interval, exp_base=1.5, max=max_interval)


def _sleep(pause: Callable[[float], object]) -> Callable[[float], None]:
    def sleep(seconds: float) -> None:
        pause(seconds)

    return sleep


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
    pause: Callable[[float], object] = _wakeup.wait,
    started_at: float | None = None,
) -> Waited[T]:
    """Call ``probe`` until it reports ``ok`` or ``deadline`` seconds have passed.

    ``started_at`` (``time.monotonic()``, say when the data was sent; by default the origin set by
    ``deadlines_from``) is when the deadline began, if before this call: checks of one pipeline
    whose data went out together then expire together, not one deadline after another. ``probe``
    is always called at least once.

    A :class:`BackendUnreachable` counts as "not yet" for ``unreachable_grace``
    seconds in a row (a restarting backend comes back); past that the wait ends
    early, since a backend that stays down will not show the data in time.
    Any other error propagates at once: it is no matter of waiting.
    """
    __tracebackhide__ = True
    if patience is not None:
        deadline, max_interval = patience.deadline, patience.max_interval
    start = time.monotonic()
    started_at = _origin.get() if started_at is None else started_at
    end = (start if started_at is None else min(started_at, start)) + deadline
    unreachable = _UnreachableFor(min(unreachable_grace, max(end - start, 0.0)))
    retrying = Retrying(
        sleep=_sleep(pause),
        stop=_PastEnd(end) | unreachable,
        wait=_NotPastEnd(_backoff(first_interval, max_interval), end),
        retry=retry_if_exception_type(BackendUnreachable) | retry_if_result(lambda seen: not seen.ok),
    )
    try:
        seen = retrying(probe)
    except RetryError as e:
        last = e.last_attempt
        error = last.exception()
        last_seen = f"error: {error}" if error is not None else last.result().shown
        gave_up = unreachable.seconds >= unreachable.grace and unreachable.since is not None
        since = "" if started_at is None else " of its send"
        why = f"(unreachable for {unreachable.seconds:.1f}s)" if gave_up else f"within {deadline:g}s{since}"
        raise WaitTimeout(
            f"{expected} not seen {why} ({last.attempt_number} polls)\n  looked at: {where}\n  last seen: {last_seen}"
        ) from None
    return Waited(seen.value, time.monotonic() - start, int(retrying.statistics["attempt_number"]))


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
    Retrying(
        sleep=_sleep(pause),
        stop=stop_after_delay(window),
        wait=_NotPast(_backoff(0.02, max_interval), window),
        retry=retry_if_result(lambda _: True),
        retry_error_callback=lambda _: None,  # the window passed with no violation
    )(check)
