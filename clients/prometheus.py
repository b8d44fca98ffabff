"""Prometheus HTTP API v1 client (hand-written: four endpoints do not need pandas)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clients.errors import BackendError
from clients.http import HttpBackend


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

    def _data(self, path: str, params: dict[str, str] | None = None) -> Any:
        body = self.get_json(path, params)
        if body.get("status") != "success":
            raise BackendError(self.component, f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query_url(self, promql: str) -> str:
        """The request a failure message shows (query left readable, not URL-encoded)."""
        return f"{self.url('/api/v1/query')}?query={promql}"

    def query(self, promql: str) -> list[Sample]:
        data = self._data("/api/v1/query", {"query": promql})
        if data["resultType"] != "vector":
            raise BackendError(self.component, f"{promql!r} gave a {data['resultType']}, not a vector")
        return [Sample(dict(item["metric"]), float(item["value"][1])) for item in data["result"]]

    def targets(self) -> list[Target]:
        data = self._data("/api/v1/targets", {"state": "active"})
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
        import time

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
        import yaml

        parsed: dict[str, Any] = yaml.safe_load(self._data("/api/v1/status/config")["yaml"])
        return parsed

    def version(self) -> str:
        return str(self._data("/api/v1/status/buildinfo")["version"])

    def ready(self) -> bool:
        return self.request("GET", "/-/ready").status_code == 200
