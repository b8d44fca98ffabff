"""Deadline polling on a fake clock: fast first polls, back-off, and a timeout that shows what was seen."""

from __future__ import annotations

import pytest

from clients.errors import BackendError, BackendUnreachable, WaitTimeout
from clients.polling import Observation, wait_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def test_returns_value_and_latency_when_seen() -> None:
    clock = FakeClock()
    answers = iter([0, 0, 0, 3])

    def probe() -> Observation[int]:
        value = next(answers)
        return Observation(value, value == 3, f"value {value}")

    waited = wait_for(probe, deadline=5, expected="3", where="here", clock=clock, pause=clock.pause)
    assert waited.value == 3
    assert waited.polls == 4
    assert waited.seconds == pytest.approx(sum(clock.pauses))
    assert clock.pauses[0] == pytest.approx(0.02)
    assert clock.pauses == sorted(clock.pauses)


def test_first_polls_resolve_latency_within_100ms() -> None:
    clock = FakeClock()
    waited = wait_for(
        lambda: Observation(0, clock.now >= 102.0, ""),
        deadline=5,
        expected="x",
        where="y",
        clock=clock,
        pause=clock.pause,
        max_interval=0.1,
    )
    assert max(clock.pauses) <= 0.1
    assert waited.seconds - 2.0 <= 0.1


def test_timeout_says_expected_where_and_last_seen() -> None:
    clock = FakeClock()
    with pytest.raises(WaitTimeout) as caught:
        wait_for(
            lambda: Observation(0, False, "empty vector"),
            deadline=2,
            expected="up == 1",
            where="GET /q",
            clock=clock,
            pause=clock.pause,
        )
    text = str(caught.value)
    assert "up == 1 not seen within 2s" in text
    assert "looked at: GET /q" in text
    assert "last seen: empty vector" in text
    assert clock.now - 100 == pytest.approx(2)


def test_unreachable_backend_ends_the_wait_after_the_grace() -> None:
    clock = FakeClock()

    def probe() -> Observation[int]:
        raise BackendUnreachable("Loki", "GET http://x failed: connection refused")

    with pytest.raises(WaitTimeout, match=r"(?s)unreachable for .*Loki: GET http://x failed: connection refused"):
        wait_for(probe, deadline=60, expected="log", where="Loki", clock=clock, pause=clock.pause, unreachable_grace=3)
    assert clock.now - 100 < 5


def test_configuration_errors_are_not_retried() -> None:
    calls = []

    def probe() -> Observation[int]:
        calls.append(1)
        raise BackendError("Prometheus", "bad_data: parse error")

    with pytest.raises(BackendError):
        wait_for(probe, deadline=60, expected="x", where="y", pause=lambda s: None)
    assert len(calls) == 1
