"""Client of the Slack mock's read API: the messages it recorded, filtered by run id."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from obs_conformance.clients.http import HttpBackend


@dataclass(frozen=True)
class SlackMessage:
    """One webhook post as the mock recorded it."""

    hook: str
    channel: str
    username: str
    text: str
    attachments: list[dict[str, Any]] = field(default_factory=list)

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

    def messages(self, contains: str = "") -> list[SlackMessage]:
        body = self.get_json("/api/messages", {"contains": contains} if contains else None)
        return [
            SlackMessage(
                hook=m["hook"],
                channel=m.get("channel", ""),
                username=m.get("username", ""),
                text=m.get("text", ""),
                attachments=m.get("attachments", []),
            )
            for m in body["messages"]
        ]

    def ready(self) -> bool:
        return self.request("GET", "/healthz").status_code == 200
