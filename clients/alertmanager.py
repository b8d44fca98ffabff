"""Alertmanager API v2 client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from clients.http import HttpBackend


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

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get_json("/api/v2/status")
        return result

    def version(self) -> str:
        return str(self.status()["versionInfo"]["version"])
