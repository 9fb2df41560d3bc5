"""flowengine's tagged values (``{"type": "String", "value": "x"}``) decoded to plain JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TAGS = frozenset({"Null", "Bool", "Number", "String", "Bytes", "Json", "Array", "Object"})


def is_tagged(value: Any) -> bool:
    """Whether ``value`` is a tagged value: an object whose ``type`` is a tag, with a ``value`` (but Null)."""
    if not isinstance(value, Mapping) or value.get("type") not in TAGS:
        return False
    return set(value) <= {"type", "value"} and (value["type"] == "Null" or "value" in value)


def plain(value: Any) -> Any:
    """``value`` with every tagged value decoded: recursively inside ``Array`` and ``Object`` (and plain
    lists and objects), never inside ``Json``; ``Bytes`` becomes its list of byte values."""
    if is_tagged(value):
        tag, inner = value["type"], value.get("value")
        if tag == "Null":
            return None
        if tag == "Json":
            return inner
        if tag == "Bytes" and isinstance(inner, str):
            return list(inner.encode("utf-8"))
        return plain(inner)
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def tagged(value: Any) -> Any:
    """Plain JSON written in flowengine's tagged form, the inverse of ``plain``: objects and arrays as
    ``Object`` and ``Array`` of tagged values, numbers as ``Number`` (integers stay integers)."""
    if value is None:
        return {"type": "Null", "value": None}
    if isinstance(value, bool):
        return {"type": "Bool", "value": value}
    if isinstance(value, int | float):
        return {"type": "Number", "value": value}
    if isinstance(value, str):
        return {"type": "String", "value": value}
    if isinstance(value, Mapping):
        return {"type": "Object", "value": {str(key): tagged(item) for key, item in value.items()}}
    if isinstance(value, list | tuple):
        return {"type": "Array", "value": [tagged(item) for item in value]}
    raise TypeError(
        "a config value must be JSON (null, boolean, number, string, array or object), "
        f"got {type(value).__name__}"
    )
