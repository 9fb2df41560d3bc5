"""How values become stored text and back: JSON for values, ``"2/0"`` for scopes."""

from __future__ import annotations

import json
from typing import Any

from flowloom.ir import Json, Scope

UNSERIALIZABLE = "__unserializable__"
_encoder = json.JSONEncoder(
    ensure_ascii=False,
    separators=(",", ":"),
    default=lambda value: {UNSERIALIZABLE: type(value).__name__},
)


def dumps(value: Json) -> str:
    """JSON text of ``value``. A part that is not JSON becomes ``{"__unserializable__": "<type name>"}``;
    a value that cannot be encoded at all (a cycle, a non-string key) becomes that placeholder whole."""
    try:
        return _encoder.encode(value)
    except (TypeError, ValueError, RecursionError):
        return _encoder.encode({UNSERIALIZABLE: type(value).__name__})


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def dump_scope(scope: Scope) -> str:
    return "/".join(map(str, scope))


def load_scope(text: str) -> Scope:
    return tuple(int(part) for part in text.split("/")) if text else ()
