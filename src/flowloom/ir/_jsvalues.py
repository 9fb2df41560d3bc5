"""JavaScript's view of JSON values: how upstream's runtime prints numbers, strings, arrays and objects
(``String()``, ``JSON.stringify``, template text), and ``UNDEFINED``, JavaScript's undefined."""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final, TypeGuard

_MAX_ARRAY_INDEX: Final = 2**32 - 2
_LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")


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


def is_js_number(value: object) -> TypeGuard[int | float]:
    """``typeof value === "number"``: bool is an int subclass in Python but not a number in JavaScript."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def to_double(value: int | float) -> float:
    """The IEEE double JavaScript holds for a JSON number (ints beyond its range become ±Infinity)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def js_number(number: float) -> str:
    """``String(number)``: the shortest round-trip digits, laid out as ECMAScript's Number::toString does."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "0"  # also for -0
    sign = "-" if number < 0 else ""
    mantissa, _, exponent = repr(abs(number)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    # The decimal point sits after `point` of `digits`: value = 0.<digits> * 10**point.
    point = len(whole) + int(exponent or 0) - (len(whole + fraction) - len(digits))
    digits = digits.rstrip("0")
    if len(digits) <= point <= 21:
        return sign + digits + "0" * (point - len(digits))
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    power = point - 1
    head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{head}e{'+' if power >= 0 else '-'}{abs(power)}"


def js_string(value: object) -> str:
    """``String(value)``, as a template literal writes it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_js_number(value):
        return js_number(to_double(value))
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(_join_element(item) for item in value)
    return "[object Object]"


def _join_element(value: object) -> str:
    """An element as ``Array.prototype.join`` writes it: null is empty."""
    return "" if value is None else js_string(value)


def js_json(value: object) -> str:
    """``JSON.stringify(value)``: compact, numbers as JavaScript writes them, non-finite numbers as null."""
    if value is None or value is UNDEFINED:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_js_number(value):
        number = to_double(value)
        return js_number(number) if math.isfinite(number) else "null"
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, list):
        return "[" + ",".join(js_json(item) for item in value) + "]"
    if isinstance(value, dict):
        members = (
            f"{_json_string(key)}:{js_json(item)}" for key, item in js_entries(value) if item is not UNDEFINED
        )
        return "{" + ",".join(members) + "}"
    return "null"


def _json_string(text: str) -> str:
    # Python and JavaScript escape the same characters, except that JavaScript also escapes lone surrogates.
    encoded = json.dumps(text, ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", encoded)


def js_entries(obj: object) -> list[tuple[str, object]]:
    """``Object.entries(obj)`` in JavaScript's order: array-index keys ascending, then insertion order."""
    if isinstance(obj, list):
        return [(str(index), item) for index, item in enumerate(obj)]
    if not isinstance(obj, dict):
        return []
    entries = [(key if isinstance(key, str) else js_string(key), item) for key, item in obj.items()]
    indexed = [entry for entry in entries if _is_array_index(entry[0])]
    named = [entry for entry in entries if not _is_array_index(entry[0])]
    return sorted(indexed, key=lambda entry: int(entry[0])) + named


def _is_array_index(key: str) -> bool:
    if not (key.isascii() and key.isdigit()) or (key[0] == "0" and key != "0"):
        return False
    return int(key) <= _MAX_ARRAY_INDEX


_PLAIN_LEAVES: Final = frozenset({str, int, bool, type(None)})  # exactly these types come back as they are


def js_plain(value: Any) -> Any:
    """A JSON value as ``JSON.parse(JSON.stringify(value))`` gives it back: undefined keys vanish,
    integral floats become ints (``2.0`` is ``2``)."""
    # the engine calls this for every recorded input and output: leaves are told apart by exact type first
    leaves = _PLAIN_LEAVES
    if type(value) in leaves:
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 1e21 else value
    if isinstance(value, dict):
        return {k: v if type(v) in leaves else js_plain(v) for k, v in value.items() if v is not UNDEFINED}
    if isinstance(value, list | tuple):
        return [v if type(v) in leaves else None if v is UNDEFINED else js_plain(v) for v in value]
    return value


def template_text(value: Any) -> str:
    """How a template placeholder renders a value: ``String(x)`` with deviation D4: plain objects (also
    inside arrays) as compact JSON, undefined as the empty string."""
    if value is UNDEFINED:
        return ""
    if isinstance(value, dict):
        return js_json(value)
    if isinstance(value, list | tuple):
        # Array.prototype.join: null and undefined elements render empty.
        return ",".join("" if v is None or v is UNDEFINED else template_text(v) for v in value)
    return js_string(value)
