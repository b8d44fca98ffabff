"""Prometheus HTTP API v1: reads through prometheus-api-client, plus what it lacks.

``prometheus_api_client.PrometheusConnect`` serves instant queries and targets;
rules, exemplars, status/config and buildinfo have no method there, so those go
through :class:`~clients.http.HttpBackend` like every other client. Either way an
error names Prometheus, the URL and what came back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
import yaml
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from obs_conformance.clients.errors import BackendError, BackendUnreachable
from obs_conformance.clients.http import HttpBackend, _reason

T = TypeVar("T")


@dataclass(frozen=True)
class Sample:
    """One series of an instant vector: its labels and value."""

    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Target:
    """One active scrape target as /api/v1/targets reports it."""

    job: str
    instance: str
    health: str
    last_error: str
    scrape_interval: str


class PrometheusClient(HttpBackend):
    component = "Prometheus"

    def __init__(self, base_url: str, timeout: float, session: requests.Session | None = None) -> None:
        super().__init__(base_url, timeout, session)
        # Its own session: the hook turns a 4xx/5xx into our errors (with URL and body) before the
        # library flattens it into "HTTP Status Code N"; retries belong to the deadline polls, not
        # to urllib3 (the library's default retries 5xx three times with a 1 s back-off).
        api_session = requests.Session()
        api_session.hooks["response"].append(self._raise_for_status)
        self.api = PrometheusConnect(
            self.base_url,
            session=api_session,
            retry=Retry(0, read=False),
            timeout=timeout,  # type: ignore[arg-type]  # annotated int, handed to requests as is
        )

    def _raise_for_status(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        where = f"{response.request.method} {response.url}"
        if response.status_code >= 500:
            raise BackendUnreachable(
                self.component, f"{where} answered {response.status_code}: {response.text[:300]}", response.status_code
            )
        if response.status_code >= 400:
            raise BackendError(
                self.component, f"{where} answered {response.status_code}: {response.text[:300]}", response.status_code
            )

    def _api(self, what: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except requests.RequestException as e:
            raise BackendUnreachable(self.component, f"{what} failed: {_reason(e, self.timeout)}") from e
        except (PrometheusApiClientException, KeyError, ValueError) as e:
            raise BackendError(self.component, f"{what}: unexpected answer: {e}") from e

    def _data(self, path: str, params: dict[str, str] | None = None) -> Any:
        body = self.get_json(path, params)
        if body.get("status") != "success":
            raise BackendError(self.component, f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query_url(self, promql: str) -> str:
        """The request a failure message shows (query left readable, not URL-encoded)."""
        return f"{self.url('/api/v1/query')}?query={promql}"

    def query(self, promql: str) -> list[Sample]:
        result: Any = self._api(f"GET {self.query_url(promql)}", lambda: self.api.custom_query(promql))
        # custom_query returns data.result alone: an instant vector is a list of {metric, value}
        if not isinstance(result, list) or not all(isinstance(item, dict) and "value" in item for item in result):
            raise BackendError(self.component, f"{promql!r} gave {str(result)[:200]}, not an instant vector")
        return [Sample(dict(item["metric"]), float(item["value"][1])) for item in result]

    def targets(self) -> list[Target]:
        data: Any = self._api(
            f"GET {self.url('/api/v1/targets')}?state=active", lambda: self.api.get_targets(state="active")
        )
        return [
            Target(
                job=t["labels"].get("job", ""),
                instance=t["labels"].get("instance", ""),
                health=t["health"],
                last_error=t.get("lastError", ""),
                scrape_interval=t.get("scrapeInterval", ""),
            )
            for t in data["activeTargets"]
        ]

    def exemplars(self, promql: str, lookback: float = 3600) -> list[dict[str, Any]]:
        """Exemplars of the series selected by ``promql`` (needs --enable-feature=exemplar-storage)."""
        now = time.time()
        data = self._data(
            "/api/v1/query_exemplars", {"query": promql, "start": str(now - lookback), "end": str(now + 60)}
        )
        return [exemplar for series in data for exemplar in series.get("exemplars", [])]

    def rules(self) -> list[dict[str, Any]]:
        """Every loaded rule, each with its group name added."""
        groups = self._data("/api/v1/rules")["groups"]
        return [{**rule, "group": group["name"]} for group in groups for rule in group["rules"]]

    def config(self) -> dict[str, Any]:
        parsed: dict[str, Any] = yaml.safe_load(self._data("/api/v1/status/config")["yaml"])
        return parsed

    def version(self) -> str:
        return str(self._data("/api/v1/status/buildinfo")["version"])

    def ready(self) -> bool:
        return self.request("GET", "/-/ready").status_code == 200
