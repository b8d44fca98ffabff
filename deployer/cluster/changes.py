"""What one apply did to each object: created, changed (which fields), unchanged.

Read from the objects as they were before (``kubectl get -o json``) and as the API server
returned them after the server-side apply (``-o json``): an object whose resourceVersion did not
move was not written. Fields are named by path (``spec.resources.requests.cpu``, ``data.url``),
never with their values, so a Secret's change shows which key changed and nothing of it.
"""

from __future__ import annotations

import json
from typing import Any

Obj = dict[str, Any]
# written by the API server or by other managers on every write: not what the deploy changed
_SERVER_METADATA = {"resourceVersion", "managedFields", "generation", "creationTimestamp", "uid", "selfLink"}


def objects(text: str) -> list[Obj]:
    """The objects of kubectl's JSON output (one object, or a List); none for empty or non-JSON output."""
    try:
        found = json.loads(text) if text.strip() else None
    except json.JSONDecodeError:
        return []
    if not isinstance(found, dict):
        return []
    if found.get("kind") == "List" or ("items" in found and "metadata" not in found):
        return [o for o in found.get("items", []) if isinstance(o, dict)]
    return [found] if "metadata" in found else []


def key(obj: Obj) -> str:
    meta = obj.get("metadata", {})
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind', '?')} {where}{meta.get('name', '?')}"


def _comparable(obj: Obj) -> Obj:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k not in _SERVER_METADATA}
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


def fields(before: Any, after: Any, path: str = "") -> list[str]:
    """Paths where ``after`` differs from ``before`` (lists compared whole)."""
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for name in sorted(set(before) | set(after), key=str):
            found += fields(before.get(name), after.get(name), f"{path}.{name}" if path else str(name))
        return found
    return [] if before == after else [path or "(whole object)"]


def report(before: list[Obj], after: list[Obj]) -> list[str]:
    """One line per object of ``after``: ``<Kind> <ns>/<name>: created|changed (fields)|unchanged``."""
    old = {key(o): o for o in before}
    lines = []
    for obj in after:
        previous = old.get(key(obj))
        if previous is None:
            state = "created"
        elif previous.get("metadata", {}).get("resourceVersion") == obj.get("metadata", {}).get("resourceVersion"):
            state = "unchanged"
        else:
            changed = fields(_comparable(previous), _comparable(obj))
            state = f"changed ({', '.join(changed)})" if changed else "changed (field ownership only)"
        lines.append(f"{key(obj)}: {state}")
    return lines
