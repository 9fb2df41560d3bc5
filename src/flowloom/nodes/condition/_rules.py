"""The condition rules table (upstream 1.0.9 ``nodes/condition/rules.ts``, with deviation D1) and the
operator handlers."""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from flowloom.ir import UNDEFINED
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


Op = Operator
_EMPTINESS = {Op.IS_EMPTY: T.NULL, Op.IS_NOT_EMPTY: T.NULL}  # D1: no right operand for any type
_ORDER = dict.fromkeys((Op.EQ, Op.NEQ, Op.GT, Op.GTE, Op.LT, Op.LTE), T.NUMBER)
_MEMBERSHIP = {Op.IN: T.ARRAY, Op.NIN: T.ARRAY}

# left type -> operator -> the type the right operand must have (NULL: no right operand).
RULES: dict[T, dict[Operator, T]] = {
    T.STRING: {
        Op.EQ: T.STRING,
        Op.NEQ: T.STRING,
        Op.CONTAINS: T.STRING,
        Op.NOT_CONTAINS: T.STRING,
        **_MEMBERSHIP,
        **_EMPTINESS,
    },
    T.NUMBER: {**_ORDER, **_MEMBERSHIP, **_EMPTINESS},
    T.INTEGER: {**_ORDER, **_MEMBERSHIP, **_EMPTINESS},
    T.BOOLEAN: {
        Op.EQ: T.BOOLEAN,
        Op.NEQ: T.BOOLEAN,
        Op.IS_TRUE: T.NULL,
        Op.IS_FALSE: T.NULL,
        **_MEMBERSHIP,
        **_EMPTINESS,
    },
    T.DATE_TIME: {**dict.fromkeys(_ORDER, T.DATE_TIME), **_EMPTINESS},
    T.OBJECT: dict(_EMPTINESS),
    T.MAP: dict(_EMPTINESS),
    T.ARRAY: dict(_EMPTINESS),
    T.NULL: {Op.EQ: T.NULL, **_EMPTINESS},
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


def _ordered(compare: Callable[[float, float], bool]) -> Handler:
    def handler(left: Any, right: Any, left_type: T) -> bool:
        return compare(*_compare(left, right, left_type))

    return handler


HANDLERS: dict[Operator, Handler] = {
    Op.EQ: _equal,
    Op.NEQ: lambda left, right, t: not _equal(left, right, t),
    Op.GT: _ordered(operator.gt),
    Op.GTE: _ordered(operator.ge),
    Op.LT: _ordered(operator.lt),
    Op.LTE: _ordered(operator.le),
    Op.IN: lambda left, right, _t: isinstance(right, list) and any(js_equal(left, r) for r in right),
    Op.NIN: lambda left, right, _t: isinstance(right, list) and not any(js_equal(left, r) for r in right),
    Op.CONTAINS: lambda left, right, _t: isinstance(left, str) and isinstance(right, str) and right in left,
    Op.NOT_CONTAINS: lambda left, right, _t: (
        isinstance(left, str) and isinstance(right, str) and right not in left
    ),
    Op.IS_EMPTY: lambda left, _right, _t: is_empty(left),
    Op.IS_NOT_EMPTY: lambda left, _right, _t: not is_empty(left),
    Op.IS_TRUE: lambda left, _right, _t: left is True,
    Op.IS_FALSE: lambda left, _right, _t: left is False,
}
