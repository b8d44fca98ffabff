"""Alertmanager API v2 client (hand-written: prometheus-api-client covers Prometheus' API only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from obs_conformance.clients.http import HttpBackend


class AlertmanagerClient(HttpBackend):
    component = "Alertmanager"

    def post_alert(
        self, labels: dict[str, str], annotations: dict[str, str], duration: timedelta = timedelta(minutes=5)
    ) -> None:
        """Fire one alert that resolves by itself after ``duration``."""
        now = datetime.now(UTC)
        alert = {
            "labels": labels,
            "annotations": annotations,
            "startsAt": now.isoformat(),
            "endsAt": (now + duration).isoformat(),
        }
        self.request("POST", "/api/v2/alerts", json=[alert])

    def alerts(self, filters: list[str]) -> list[dict[str, Any]]:
        response = self.request("GET", "/api/v2/alerts", params={"filter": filters})
        result: list[dict[str, Any]] = response.json()
        return result

    def create_silence(
        self, matchers: dict[str, str], comment: str, duration: timedelta = timedelta(minutes=10)
    ) -> str:
        """Silence alerts whose labels equal ``matchers``; returns the silence id."""
        now = datetime.now(UTC)
        body = {
            "matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in matchers.items()],
            "startsAt": now.isoformat(),
            "endsAt": (now + duration).isoformat(),
            "createdBy": "obs-conformance",
            "comment": comment,
        }
        return str(self.request("POST", "/api/v2/silences", json=body).json()["silenceID"])

    def expire_silence(self, silence_id: str) -> None:
        self.request("DELETE", f"/api/v2/silence/{silence_id}")

    def silence_state(self, silence_id: str) -> str:
        return str(self.get_json(f"/api/v2/silence/{silence_id}")["status"]["state"])

    def running_config(self) -> dict[str, Any]:
        """The config Alertmanager runs (``/api/v2/status`` ``config.original``), parsed."""
        parsed: dict[str, Any] = yaml.safe_load(self.status()["config"]["original"])
        return parsed

    def metric(self, name: str, labels: dict[str, str]) -> float:
        """Sum of one counter of Alertmanager's own /metrics over series carrying ``labels``."""
        total = 0.0
        for line in self.get_text("/metrics").splitlines():
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get_json("/api/v2/status")
        return result

    def version(self) -> str:
        return str(self.status()["versionInfo"]["version"])
