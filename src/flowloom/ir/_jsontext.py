"""JSON text as flowloom stores values: compact, UTF-8, with a placeholder for what is not JSON."""

from __future__ import annotations

import json
from typing import Any

UNSERIALIZABLE = "__unserializable__"

_encoder = json.JSONEncoder(
    ensure_ascii=False,
    separators=(",", ":"),
    default=lambda value: {UNSERIALIZABLE: type(value).__name__},
)


class RawJson(str):
    """JSON text that is already encoded (as ``json_text`` would encode it): a store writes it as it is,
    rather than encoding the string again. What reads it back gets the decoded value."""

    __slots__ = ()


def json_text(value: Any) -> str:
    """JSON text of ``value``. A part that is not JSON becomes ``{"__unserializable__": "<type name>"}``;
    a value that cannot be encoded at all (a cycle, a non-string key) becomes that placeholder whole."""
    if type(value) is RawJson:
        return value
    try:
        return _encoder.encode(value)
    except (TypeError, ValueError, RecursionError):
        return _encoder.encode({UNSERIALIZABLE: type(value).__name__})
