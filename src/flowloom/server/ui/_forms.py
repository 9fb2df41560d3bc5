"""A run form from a start node's JSON schema: one field per property, typed by the schema."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

_SCALARS = {"string": "text", "number": "number", "integer": "number", "boolean": "checkbox"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    """One input of the form. ``kind``: ``text``, ``number``, ``checkbox`` or ``json`` (a textarea)."""

    name: str
    kind: str
    json_type: str
    required: bool
    value: str
    description: str


def form_fields(schema: dict[str, Any]) -> list[Field]:
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return []
    required = set(schema.get("required") or ())
    found = []
    for name, spec in properties.items():
        spec = spec if isinstance(spec, dict) else {}
        given = spec.get("type")
        json_type = given if isinstance(given, str) else "any"
        kind = _SCALARS.get(json_type, "json")
        default = spec.get("default")
        if default is None:
            value = ""
        elif kind == "json" or kind == "checkbox":
            value = json.dumps(default)
        else:
            value = str(default)
        found.append(
            Field(
                name=str(name),
                kind=kind,
                json_type=json_type,
                required=name in required,
                value=value,
                description=str(spec.get("description", "")),
            )
        )
    return found
