"""JavaScript-faithful rendering of JSON values, as upstream's runtime shows them to users."""

from __future__ import annotations

import json
import math
from typing import Any, Final


class _Undefined:
    """JavaScript's ``undefined``: a declared variable without a value. Distinct from ``None`` (null)."""

    __slots__ = ()
    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Final = _Undefined()


def js_number(value: float) -> str:
    """``String(x)`` for a number: ``2`` for 2.0, ``1.5``, ``1e+21``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        text = f"{mantissa.removesuffix('.0')}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"
    return text


def js_plain(value: Any) -> Any:
    """Drop what JSON cannot hold the way ``JSON.stringify`` does: undefined keys vanish, integral
    floats become ints (so ``2.0`` prints as ``2``)."""
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 1e21 else value
    if isinstance(value, dict):
        return {k: js_plain(v) for k, v in value.items() if v is not UNDEFINED}
    if isinstance(value, list | tuple):
        return [None if v is UNDEFINED else js_plain(v) for v in value]
    return value


def js_json(value: Any) -> str:
    """``JSON.stringify(value)``: compact, UTF-8, integral floats without ``.0``."""
    return json.dumps(js_plain(value), separators=(",", ":"), ensure_ascii=False)


def template_text(value: Any) -> str:
    """How a template placeholder renders a value: ``String(x)`` with deviation D4 (objects as
    compact JSON, undefined as the empty string)."""
    if value is UNDEFINED:
        return ""
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return js_number(value)
    if isinstance(value, list | tuple):
        # Array.prototype.join: null and undefined elements render empty.
        return ",".join("" if v is None or v is UNDEFINED else template_text(v) for v in value)
    return js_json(value)
