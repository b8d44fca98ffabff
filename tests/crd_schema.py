"""Custom resources checked against the openAPIV3Schema of their CRDs, unknown fields rejected.

The API server prunes unknown fields silently (or rejects them with
``--validate=strict``); a typo in a CR would otherwise pass every test and be dropped on
the cluster. This applies the CRD's structural schema with jsonschema, closing every
object that declares ``properties`` unless it says ``x-kubernetes-preserve-unknown-fields``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jsonschema

_NESTED = ("items", "not")
_LISTS = ("allOf", "anyOf", "oneOf")


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema of a CRD version's openAPIV3Schema, with unknown fields rejected."""
    out = {k: v for k, v in schema.items() if k != "nullable"}
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if "properties" in out:
        out["properties"] = {name: strict(sub) for name, sub in out["properties"].items()}
        if not schema.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in out:
            out["additionalProperties"] = False
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = strict(out["additionalProperties"])
    for key in _NESTED:
        if isinstance(out.get(key), dict):
            out[key] = strict(out[key])
    for key in _LISTS:
        if isinstance(out.get(key), list):
            out[key] = [strict(sub) for sub in out[key]]
    return out


class CrdSchemas:
    """The served versions of a set of CRDs, by (group/version, kind)."""

    def __init__(self, crds: Iterable[dict[str, Any]]) -> None:
        self.schemas: dict[tuple[str, str], dict[str, Any]] = {}
        for crd in crds:
            spec = crd["spec"]
            for version in spec["versions"]:
                if version.get("served", True) and "schema" in version:
                    key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                    self.schemas[key] = strict(version["schema"]["openAPIV3Schema"])

    def covers(self, doc: dict[str, Any]) -> bool:
        return (doc.get("apiVersion"), doc.get("kind")) in self.schemas

    def errors(self, doc: dict[str, Any]) -> list[str]:
        """Every violation, as ``path: message``; empty when the CR is valid."""
        schema = self.schemas[(doc["apiVersion"], doc["kind"])]
        body = {k: v for k, v in doc.items() if k != "metadata"}
        validator = jsonschema.Draft4Validator({**schema, "properties": {
            k: v for k, v in schema.get("properties", {}).items() if k != "metadata"}})  # fmt: skip
        return [
            f"{'.'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
            for error in validator.iter_errors(body)
        ]
