"""Deadline polling on real time with short deadlines: fast first polls, back-off, and a timeout that shows what was seen."""

from __future__ import annotations

import threading
import time

import pytest

from obs_conformance.clients.errors import BackendError, BackendUnreachable, WaitTimeout
from obs_conformance.clients.polling import Observation, hold, wait_for


class Pauses:
    """Records every pause the poller asks for, and pauses for real (the deadline is on the real clock)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._never = threading.Event()

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)
        self._never.wait(seconds)


def test_returns_value_and_latency_when_seen() -> None:
    pauses = Pauses()
    answers = iter([0, 0, 0, 3])

    def probe() -> Observation[int]:
        value = next(answers)
        return Observation(value, value == 3, f"value {value}")

    waited = wait_for(probe, deadline=5, expected="3", where="here", pause=pauses)
    assert waited.value == 3
    assert waited.polls == 4
    assert waited.seconds == pytest.approx(sum(pauses.seconds), abs=0.1)
    assert pauses.seconds[0] == pytest.approx(0.02)
    assert pauses.seconds == sorted(pauses.seconds)


def test_back_off_grows_by_half_up_to_max_interval() -> None:
    pauses = Pauses()
    start = time.monotonic()
    wait_for(
        lambda: Observation(0, time.monotonic() - start >= 0.6, ""),
        deadline=5,
        expected="x",
        where="y",
        max_interval=0.1,
        pause=pauses,
    )
    assert pauses.seconds[:3] == pytest.approx([0.02, 0.03, 0.045])
    assert max(pauses.seconds) == pytest.approx(0.1)


def test_first_polls_resolve_latency_within_100ms() -> None:
    pauses = Pauses()
    start = time.monotonic()
    waited = wait_for(
        lambda: Observation(0, time.monotonic() - start >= 0.5, ""),
        deadline=5,
        expected="x",
        where="y",
        pause=pauses,
        max_interval=0.1,
    )
    assert max(pauses.seconds) <= 0.1
    assert waited.seconds - 0.5 <= 0.1 + 0.05  # one interval, plus scheduling on a busy machine


def test_timeout_says_expected_where_and_last_seen() -> None:
    answers = iter(range(1000))

    def probe() -> Observation[int]:
        value = next(answers)
        return Observation(value, False, f"value {value}")

    start = time.monotonic()
    with pytest.raises(WaitTimeout) as caught:
        wait_for(probe, deadline=0.3, expected="up == 1", where="GET /q", max_interval=0.05)
    text = str(caught.value)
    assert "up == 1 not seen within 0.3s" in text
    assert "looked at: GET /q" in text
    polls = int(text.split(" polls)")[0].rsplit("(", 1)[1])
    assert f"last seen: value {polls - 1}" in text  # the last poll, not the first
    assert time.monotonic() - start == pytest.approx(0.3, abs=0.15)


def test_unreachable_backend_ends_the_wait_after_the_grace() -> None:
    def probe() -> Observation[int]:
        raise BackendUnreachable("Loki", "GET http://x failed: connection refused")

    start = time.monotonic()
    with pytest.raises(WaitTimeout, match=r"(?s)unreachable for .*Loki: GET http://x failed: connection refused"):
        wait_for(probe, deadline=60, expected="log", where="Loki", unreachable_grace=0.3)
    assert time.monotonic() - start < 2


def test_a_backend_back_within_the_grace_is_waited_for() -> None:
    answers: list[Observation[int] | BackendUnreachable] = [
        BackendUnreachable("Prometheus", "restarting"),
        BackendUnreachable("Prometheus", "restarting"),
        Observation(1, False, "empty"),
        Observation(2, True, "there"),
    ]

    def probe() -> Observation[int]:
        answer = answers.pop(0)
        if isinstance(answer, BackendUnreachable):
            raise answer
        return answer

    assert wait_for(probe, deadline=5, expected="x", where="y", unreachable_grace=1).value == 2


def test_configuration_errors_are_not_retried() -> None:
    calls = []

    def probe() -> Observation[int]:
        calls.append(1)
        raise BackendError("Prometheus", "bad_data: parse error")

    with pytest.raises(BackendError):
        wait_for(probe, deadline=60, expected="x", where="y", pause=lambda s: None)
    assert len(calls) == 1


def test_hold_checks_through_the_window_and_fails_at_the_first_violation() -> None:
    calls: list[float] = []
    start = time.monotonic()
    hold(lambda: calls.append(time.monotonic()), window=0.3, max_interval=0.05)
    assert time.monotonic() - start == pytest.approx(0.3, abs=0.15)
    assert len(calls) >= 5

    def violated() -> None:
        raise AssertionError("a message arrived")

    with pytest.raises(AssertionError, match="a message arrived"):
        hold(violated, window=60)


def test_a_max_interval_below_the_first_bounds_every_pause() -> None:
    """The benchmark polls every 10 ms: no pause may exceed the cap, not even the first."""
    pauses = Pauses()
    answers = iter([False, False, False, True])
    wait_for(
        lambda: Observation(0, next(answers), ""), deadline=5, expected="x", where="y", max_interval=0.01, pause=pauses
    )
    assert pauses.seconds == pytest.approx([0.01, 0.01, 0.01])
