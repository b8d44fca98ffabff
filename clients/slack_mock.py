"""Client of the Slack mock's read API: the messages it recorded, filtered by run id and by arrival."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from obs_conformance.clients.clocks import clock_offset
from obs_conformance.clients.http import HttpBackend


@dataclass(frozen=True)
class SlackMessage:
    """One webhook post as the mock recorded it."""

    hook: str
    channel: str
    username: str
    text: str
    attachments: list[dict[str, Any]] = field(default_factory=list)
    received_at: float = 0.0  # Unix seconds, on the mock's clock

    @property
    def all_text(self) -> str:
        """Text and every attachment's title, text and field values, for matching."""
        parts = [self.text]
        for attachment in self.attachments:
            parts += [str(attachment.get("title", "")), str(attachment.get("text", ""))]
            parts += [str(f.get("value", "")) for f in attachment.get("fields", []) or []]
        return "\n".join(parts)


class SlackMockClient(HttpBackend):
    component = "Slack mock"

    def messages(self, contains: str = "", since: float | None = None) -> list[SlackMessage]:
        """Recorded messages with ``contains`` in them; with ``since`` (the mock's clock), only those received then or later."""
        params = {"contains": contains} if contains else {}
        if since is not None:
            params["since"] = f"{since:.6f}"
        body = self.get_json("/api/messages", params or None)
        return [
            SlackMessage(
                hook=m["hook"],
                channel=m.get("channel", ""),
                username=m.get("username", ""),
                text=m.get("text", ""),
                attachments=m.get("attachments", []),
                received_at=float(m.get("received_at", 0.0)),
            )
            for m in body["messages"]
        ]

    def on_mock_clock(self, when: float) -> float:
        """``when`` (this machine's clock, Unix seconds) on the mock's clock (a pod's, on clusters).

        The offset comes from the quickest of a few reads of the mock's ``now``, at the middle of
        its round trip, as for Prometheus' clock (fixtures/readback.on_prometheus_clock).
        """
        return when + clock_offset(lambda: float(self.get_json("/api/messages", {"since": "inf"})["now"]))

    def ready(self) -> bool:
        return self.request("GET", "/healthz").status_code == 200
