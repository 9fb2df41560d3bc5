"""Workflow inputs checked against the start node's ``outputs`` schema, as @flowgram.ai/runtime-js 1.0.9 does.

This is upstream's own small validator, not JSON Schema: the types ``boolean, string, integer, number,
object, array, map``; ``$ref`` is skipped; ``enum``, ``required``, ``properties``, ``items`` and
``additionalProperties`` are checked. It stops at the first error. Values in messages are written the
JavaScript way (``typeof``, ``JSON.stringify``, ``String()``): ``2.0`` is ``2``, ``true`` is not a number.

Schema shapes upstream would crash on are reported as clear errors instead (D13): no schema at all gives
``start node "<id>" has no outputs schema``, and a property schema that is not an object (e.g. ``null``) is a
schema without a type. Non-array ``enum``/``required`` are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

from flowloom.ir import is_js_number, js_entries, js_json, js_string, to_double

ERROR_PREFIX: Final = "JSON Schema validation failed: "
_ROOT: Final = "root"
_TOO_DEEP: Final = "inputs or their schema are nested too deeply"

_TypeCheck = Callable[[object, dict[object, object], str], str | None]


def validate_inputs(start_node_id: str, outputs_schema: object, inputs: object) -> list[str]:
    """Errors of ``inputs`` against the start node's ``data.outputs``; ``[]`` when they are valid.

    ``outputs_schema`` is ``None`` when the start node has none. At most one error, prefixed
    ``JSON Schema validation failed: ``. Never raises.
    """
    if outputs_schema is None:
        return [f'{ERROR_PREFIX}start node "{start_node_id}" has no outputs schema']
    try:
        error = _check(inputs, outputs_schema, _ROOT)
    except RecursionError:
        error = _TOO_DEEP
    return [] if error is None else [ERROR_PREFIX + error]


def _check(value: object, schema: object, path: str) -> str | None:
    if not isinstance(schema, dict):
        # JavaScript reads no $ref, enum or type from a non-object; upstream crashes on null (D13).
        return f'Unknown type "undefined" at {path}'
    if _js_truthy(schema.get("$ref")):
        return None
    options = schema.get("enum")
    if isinstance(options, list) and options and not any(_same_value_zero(value, o) for o in options):
        shown = ", ".join(("" if option is None else js_string(option)) for option in options)
        return f"Value at {path} must be one of: {shown}, but got: {js_json(value)}"
    declared = schema.get("type")
    check = _TYPE_CHECKS.get(declared) if isinstance(declared, str) else None
    if check is None:
        shown = js_string(declared) if "type" in schema else "undefined"
        return f'Unknown type "{shown}" at {path}'
    return check(value, schema, path)


def _check_boolean(value: object, schema: dict[object, object], path: str) -> str | None:
    if isinstance(value, bool):
        return None
    return f"Expected boolean at {path}, but got: {_js_typeof(value)}"


def _check_string(value: object, schema: dict[object, object], path: str) -> str | None:
    if isinstance(value, str):
        return None
    return f"Expected string at {path}, but got: {_js_typeof(value)}"


def _check_integer(value: object, schema: dict[object, object], path: str) -> str | None:
    if is_js_number(value) and math.isfinite(number := to_double(value)) and number.is_integer():
        return None
    return f"Expected integer at {path}, but got: {js_json(value)}"


def _check_number(value: object, schema: dict[object, object], path: str) -> str | None:
    if is_js_number(value) and not math.isnan(to_double(value)):
        return None
    return f"Expected number at {path}, but got: {js_json(value)}"


def _check_object(value: object, schema: dict[object, object], path: str) -> str | None:
    if not isinstance(value, dict):
        return f"Expected object at {path}, but got: {_not_a_record(value)}"
    required = schema.get("required")
    # Upstream checks the required names, then again those that are also declared: the same test twice.
    for name in required if isinstance(required, list) else []:
        key = js_string(name)
        if key not in value:
            return f'Missing required property "{key}" at {path}'
    declared = js_entries(schema.get("properties"))
    for name, property_schema in declared:
        if name in value:
            error = _check(value[name], property_schema, _child_path(path, name))
            if error is not None:
                return error
    extra_schema = schema.get("additionalProperties")
    if _js_truthy(extra_schema):
        declared_names = {name for name, _ in declared}
        extras = [(name, item) for name, item in js_entries(value) if name not in declared_names]
        return _check_entries(extras, extra_schema, path)
    return None


def _check_array(value: object, schema: dict[object, object], path: str) -> str | None:
    if not isinstance(value, list):
        return f"Expected array at {path}, but got: {_js_typeof(value)}"
    items_schema = schema.get("items")
    if _js_truthy(items_schema):
        for index, item in enumerate(value):
            error = _check(item, items_schema, f"{path}[{index}]")
            if error is not None:
                return error
    return None


def _check_map(value: object, schema: dict[object, object], path: str) -> str | None:
    if not isinstance(value, dict):
        return f"Expected map at {path}, but got: {_not_a_record(value)}"
    values_schema = schema.get("additionalProperties")
    if _js_truthy(values_schema):
        return _check_entries(js_entries(value), values_schema, path)
    return None


def _check_entries(entries: list[tuple[str, object]], schema: object, path: str) -> str | None:
    for name, item in entries:
        error = _check(item, schema, _child_path(path, name))
        if error is not None:
            return error
    return None


_TYPE_CHECKS: Final[dict[object, _TypeCheck]] = {
    "boolean": _check_boolean,
    "string": _check_string,
    "integer": _check_integer,
    "number": _check_number,
    "object": _check_object,
    "array": _check_array,
    "map": _check_map,
}


def _child_path(path: str, name: str) -> str:
    # Upstream compares with the literal "root", so a top-level property named "root" loses its prefix too.
    return name if path == _ROOT else f"{path}.{name}"


def _not_a_record(value: object) -> str:
    """How upstream names a value that is not a plain object: ``null``, ``array`` or its ``typeof``."""
    if value is None:
        return "null"
    return "array" if isinstance(value, list) else _js_typeof(value)


# --- JavaScript semantics -------------------------------------------------------------------------


def _js_truthy(value: object) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, float):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str | int):
        return bool(value)
    return True


def _js_typeof(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if is_js_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"  # null, arrays and objects


def _same_value_zero(a: object, b: object) -> bool:
    """``[b].includes(a)``: primitives by value and type, objects and arrays by identity."""
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_js_number(a) and is_js_number(b):
        x, y = to_double(a), to_double(b)
        return x == y or (math.isnan(x) and math.isnan(y))
    return type(a) is type(b) and a == b
