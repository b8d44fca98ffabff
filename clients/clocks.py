"""Another process' clock, mapped onto this machine's: backends stamp data with their own time."""

from __future__ import annotations

import time
from collections.abc import Callable


def clock_offset(read_now: Callable[[], float], tries: int = 5) -> float:
    """Seconds to add to this machine's time to get the clock ``read_now`` reads (Unix seconds).

    The offset comes from the quickest of a few reads, at the middle of its round trip (its error is
    at most half of it): a slow first answer (a server just restarted) would otherwise move the bound.
    """
    best: tuple[float, float] | None = None  # (round trip, offset)
    for _ in range(tries):
        before = time.time()
        now = read_now()
        after = time.time()
        measured = (after - before, now - (before + after) / 2)
        best = measured if best is None or measured < best else best
        if best[0] < 0.05:
            break
    assert best is not None
    return best[1]
