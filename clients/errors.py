"""The client layer's errors: each names the component, the URL, and what came back."""

from __future__ import annotations


class BackendError(Exception):
    """A backend answered in a way no retry will fix (4xx, malformed body)."""

    def __init__(self, component: str, message: str, status: int | None = None) -> None:
        self.component = component
        self.status = status
        super().__init__(f"{component}: {message}")


class BackendUnreachable(BackendError):
    """Connection refused, timed out, or 5xx: the backend is down or not ready."""


class WaitTimeout(AssertionError):
    """What was waited for did not become visible before the deadline.

    An AssertionError on purpose: under pytest the check fails (not errors) with
    this message, which says what was expected, where it looked and what it saw last.
    """
