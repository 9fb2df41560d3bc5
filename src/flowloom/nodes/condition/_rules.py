"""The condition rules table (upstream 1.0.9 ``nodes/condition/rules.ts``, with deviation D1) and the
operator handlers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from flowloom.engine import UNDEFINED
from flowloom.ir import VariableType as T


class Operator(StrEnum):
    EQ = "eq"
    NEQ = "neq"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IN = "in"
    NIN = "nin"
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    IS_EMPTY = "is_empty"
    IS_NOT_EMPTY = "is_not_empty"
    IS_TRUE = "is_true"
    IS_FALSE = "is_false"


O = Operator
_EMPTINESS = {O.IS_EMPTY: T.NULL, O.IS_NOT_EMPTY: T.NULL}  # D1: no right operand for any type
_ORDER = {op: T.NUMBER for op in (O.EQ, O.NEQ, O.GT, O.GTE, O.LT, O.LTE)}
_MEMBERSHIP = {O.IN: T.ARRAY, O.NIN: T.ARRAY}

# left type -> operator -> the type the right operand must have (NULL: no right operand).
RULES: dict[T, dict[Operator, T]] = {
    T.STRING: {O.EQ: T.STRING, O.NEQ: T.STRING, O.CONTAINS: T.STRING, O.NOT_CONTAINS: T.STRING,
               **_MEMBERSHIP, **_EMPTINESS},
    T.NUMBER: {**_ORDER, **_MEMBERSHIP, **_EMPTINESS},
    T.INTEGER: {**_ORDER, **_MEMBERSHIP, **_EMPTINESS},
    T.BOOLEAN: {O.EQ: T.BOOLEAN, O.NEQ: T.BOOLEAN, O.IS_TRUE: T.NULL, O.IS_FALSE: T.NULL,
                **_MEMBERSHIP, **_EMPTINESS},
    T.DATE_TIME: {**{op: T.DATE_TIME for op in _ORDER}, **_EMPTINESS},
    T.OBJECT: dict(_EMPTINESS),
    T.MAP: dict(_EMPTINESS),
    T.ARRAY: dict(_EMPTINESS),
    T.NULL: {O.EQ: T.NULL, **_EMPTINESS},
}

RIGHT_OPERAND_IGNORED = frozenset(_EMPTINESS)


def js_equal(a: Any, b: Any) -> bool:
    """``===`` on JSON values: booleans are not numbers, 1 equals 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if a is UNDEFINED or b is UNDEFINED:
        return a is b
    return bool(a == b)


def is_empty(value: Any) -> bool:
    """D1: null or missing, ``""``, ``[]`` or ``{}``."""
    return value is None or value is UNDEFINED or (isinstance(value, str | list | dict) and len(value) == 0)


def _epoch_ms(value: Any) -> float:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1000
    except ValueError:
        return float("nan")


def _compare(left: Any, right: Any, left_type: T) -> tuple[float, float]:
    if left_type == T.DATE_TIME:
        return _epoch_ms(left), _epoch_ms(right)
    return float(left), float(right)


Handler = Callable[[Any, Any, T], bool]

def _equal(left: Any, right: Any, left_type: T) -> bool:
    if left_type == T.DATE_TIME:
        return _epoch_ms(left) == _epoch_ms(right)  # the same instant, however it is written
    return js_equal(left, right)


HANDLERS: dict[Operator, Handler] = {
    O.EQ: _equal,
    O.NEQ: lambda left, right, t: not _equal(left, right, t),
    O.GT: lambda left, right, t: (lambda a, b: a > b)(*_compare(left, right, t)),
    O.GTE: lambda left, right, t: (lambda a, b: a >= b)(*_compare(left, right, t)),
    O.LT: lambda left, right, t: (lambda a, b: a < b)(*_compare(left, right, t)),
    O.LTE: lambda left, right, t: (lambda a, b: a <= b)(*_compare(left, right, t)),
    O.IN: lambda left, right, _t: isinstance(right, list) and any(js_equal(left, r) for r in right),
    O.NIN: lambda left, right, _t: isinstance(right, list) and not any(js_equal(left, r) for r in right),
    O.CONTAINS: lambda left, right, _t: isinstance(left, str) and isinstance(right, str) and right in left,
    O.NOT_CONTAINS: lambda left, right, _t: isinstance(left, str) and isinstance(right, str)
    and right not in left,
    O.IS_EMPTY: lambda left, _right, _t: is_empty(left),
    O.IS_NOT_EMPTY: lambda left, _right, _t: not is_empty(left),
    O.IS_TRUE: lambda left, _right, _t: left is True,
    O.IS_FALSE: lambda left, _right, _t: left is False,
}
