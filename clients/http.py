"""The one HTTP path every client uses: a timeout on every call and errors that name the component."""

from __future__ import annotations

import json
from typing import Any

import requests

from obs_conformance.clients.errors import BackendError, BackendUnreachable


def _reason(error: requests.RequestException, timeout: float) -> str:
    """A one-line cause instead of urllib3's nested retry message."""
    if isinstance(error, requests.Timeout):
        return f"no answer within {timeout:g}s"
    if isinstance(error, requests.ConnectionError):
        text = str(error)
        for cause in ("Connection refused", "Name or service not known", "No route to host", "Connection reset"):
            if cause in text:
                return cause.lower()
        return "cannot connect"
    return f"{type(error).__name__}: {error}"


class HttpBackend:
    """Base of the backend clients: a base URL, a session, a timeout, a component name."""

    component = "backend"

    def __init__(self, base_url: str, timeout: float, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send a request; connection errors and 5xx raise :class:`BackendUnreachable`, 4xx :class:`BackendError`."""
        url = self.url(path)
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as e:
            raise BackendUnreachable(self.component, f"{method} {url} failed: {_reason(e, self.timeout)}") from e
        if response.status_code >= 500:
            raise BackendUnreachable(
                self.component,
                f"{method} {response.url} answered {response.status_code}: {response.text[:300]}",
                response.status_code,
            )
        if response.status_code >= 400:
            raise BackendError(
                self.component,
                f"{method} {response.url} answered {response.status_code}: {response.text[:300]}",
                response.status_code,
            )
        return response

    def get_json(self, path: str, params: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> Any:
        response = self.request("GET", path, params=params, headers=headers)
        try:
            return response.json()
        except json.JSONDecodeError as e:
            raise BackendError(self.component, f"GET {response.url} returned non-JSON: {response.text[:200]!r}") from e

    def get_text(self, path: str, params: dict[str, str] | None = None) -> str:
        return self.request("GET", path, params=params).text
