"""The pure builtins: math, text, logic and data, with Python's semantics (floats from arithmetic, ``str``
for text), as AbstractRuntime computes them."""

from __future__ import annotations

import ast
import json
import random
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from flowloom.engine import NodeError

from ._base import PureNode, pure_type
from ._control import py_text
from ._envelopes import ENVELOPE_BUILTINS
from ._variables import lookup, put

Fn = Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], Any]


def _num(value: Any, default: float = 0.0) -> float:
    if value is None:
        return default
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise NodeError(f"Expected a number, got {value!r}") from None


def _math(op: Callable[[float, float], float], a: str = "a", b: str = "b") -> Fn:
    return lambda i, c, v: {"result": op(_num(i.get(a)), _num(i.get(b)))}


def _divide(x: float, y: float) -> float:
    if y == 0:
        raise NodeError("Division by zero")
    return x / y


def _modulo(x: float, y: float) -> float:
    if y == 0:
        raise NodeError("Modulo by zero")
    return x % y


def _round(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    decimals = i.get("decimals")
    value = _num(i.get("value"))
    return {"result": round(value, int(_num(decimals))) if decimals is not None else float(round(value))}


def _random_int(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    lo, hi = sorted((int(_num(i.get("min"))), int(_num(i.get("max"), 100))))
    return {"result": random.randint(lo, hi)}


def _random_float(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    lo, hi = sorted((_num(i.get("min")), _num(i.get("max"), 1.0)))
    return {"result": random.uniform(lo, hi)}


def _unescape(text: str) -> str:
    return text.replace("\\n", "\n").replace("\\t", "\t")


def _values(i: dict[str, Any]) -> list[Any]:
    return list(i.values())


def _concat(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    sep = (c.get("concatConfig") or {}).get("separator", " ")
    return {"result": _unescape(str(sep)).join(py_text(x) for x in _values(i))}


def _split(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    delimiter = i.get("delimiter")
    delimiter = "," if delimiter is None or delimiter == "" else _unescape(str(delimiter))
    parts = [p.strip() for p in py_text(i.get("text")).split(delimiter)]
    return {"result": [p for p in parts if p]}


def _join(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    delimiter = i.get("delimiter")
    delimiter = "," if delimiter is None else _unescape(str(delimiter))
    items = i.get("items") or []
    return {"result": delimiter.join(py_text(x) for x in (items if isinstance(items, list) else [items]))}


def _format(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    raw = i.get("values")
    values: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    try:
        return {"result": py_text(i.get("template")).format(**values)}
    except (KeyError, IndexError, ValueError) as exc:
        raise NodeError(f"format: {exc}") from None


_PLACEHOLDER = re.compile(r"\{\{\s*([^}|]+?)\s*((?:\|[^}]*)?)\}\}")


def _template(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    scope = dict(v)
    if isinstance(i.get("vars"), Mapping):
        scope.update(i["vars"])
    scope.update({k: x for k, x in i.items() if k not in ("template", "vars")})

    def render(match: re.Match[str]) -> str:
        found, value = lookup(scope, re.sub(r"\[(-?\d+)\]", r".\1", match.group(1)))
        filters = [f.strip() for f in match.group(2).split("|") if f.strip()]
        if not found or value is None:
            value = None
        for flt in filters:
            if flt == "json":
                return json.dumps(value)
            if flt.startswith("join"):
                sep = flt[4:].strip().strip("()").strip("'\"") if "(" in flt else ", "
                value = sep.join(py_text(x) for x in (value or []))
            elif flt == "upper":
                value = py_text(value).upper()
            elif flt == "lower":
                value = py_text(value).lower()
            elif flt == "trim":
                value = py_text(value).strip()
        if isinstance(value, list | dict):
            return json.dumps(value)
        return py_text(value)

    return {"result": _PLACEHOLDER.sub(render, py_text(i.get("template")))}


def _replace(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    text, pattern, new = py_text(i.get("text")), py_text(i.get("pattern")), py_text(i.get("replacement"))
    mode = i.get("mode")
    if not pattern:
        return {"result": text}
    if mode == "first":
        count = 1
    elif (isinstance(mode, int | float) and not isinstance(mode, bool)) or (
        isinstance(mode, str) and mode.isdigit()
    ):
        count = int(mode)
    else:
        count = -1
    return {"result": text.replace(pattern, new, count)}


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _compare(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    op = i.get("op") or "=="
    fn = _OPS.get(str(op))
    if fn is None:
        raise NodeError(f"Unknown comparison operator: {op}")
    try:
        return {"result": bool(fn(i.get("a"), i.get("b")))}
    except TypeError:
        return {"result": False}


def _coalesce(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    return {"result": next((x for x in _values(i) if x is not None), None)}


def _get(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    key = re.sub(r"\[(\d+)\]", r".\1", py_text(i.get("key")))
    found, value = lookup(i.get("object"), key) if key else (False, None)
    return {"value": value if found and value is not None else i.get("default")}


def _set(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    target = dict(i["object"]) if isinstance(i.get("object"), Mapping) else {}
    put(target, py_text(i.get("key")), i.get("value"))
    return {"result": target}


def _merge(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    a, b = i.get("a"), i.get("b")
    a = a if isinstance(a, Mapping) else {}
    b = b if isinstance(b, Mapping) else {}
    return {"result": {**a, **b}}


def _array(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _get_element(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    items = _array(i.get("array"))
    index = int(_num(i.get("index")))
    if -len(items) <= index < len(items):
        return {"result": items[index], "found": True}
    return {"result": i.get("default"), "found": False}


def _random_element(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    items = _array(i.get("array"))
    if items:
        return {"result": random.choice(items), "found": True}
    return {"result": i.get("default"), "found": False}


def _array_map(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    key = py_text(i.get("key"))
    return {"result": [lookup(x, key)[1] if isinstance(x, Mapping) else x for x in _array(i.get("items"))]}


def _array_filter(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    key, want = py_text(i.get("key")), i.get("value")
    return {
        "result": [x for x in _array(i.get("items")) if isinstance(x, Mapping) and lookup(x, key)[1] == want]
    }


def _dedup(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    key = py_text(i.get("key"))
    seen: set[str] = set()
    out = []
    for item in _array(i.get("array")):
        probe = lookup(item, key)[1] if key and isinstance(item, Mapping) else item
        marker = f"{type(probe).__name__}:{json.dumps(probe, sort_keys=True)}"
        if marker not in seen:
            seen.add(marker)
            out.append(item)
    return {"result": out}


def _array_concat(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    out: list[Any] = []
    for value in _values(i):
        if isinstance(value, list):
            out.extend(value)
        elif value is not None:
            out.append(value)
    return {"result": out}


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def _parse_json(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    raw = i.get("text")
    if not isinstance(raw, str):
        value = raw
    else:
        text = raw.strip()
        fenced = _FENCE.search(text)
        if fenced:
            text = fenced.group(1).strip()
        value = _loads(text)
    return {"result": value if isinstance(value, dict | list) else {"value": value}}


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    for opener, closer in (("{", "}"), ("[", "]")):
        start, end = text.find(opener), text.rfind(closer)
        if 0 <= start < end:
            try:
                return json.loads(text[start : end + 1])
            except ValueError:
                pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise NodeError(f"Invalid JSON: {text[:80]!r}") from None


def _stringify(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    if i.get("mode") == "minified":
        return {"result": json.dumps(i.get("value"), ensure_ascii=False, separators=(",", ":"))}
    return {"result": json.dumps(i.get("value"), ensure_ascii=False, indent=2)}


def _make_object(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    return {"result": dict(i)}


def _make_array(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    return {"result": [x for x in _values(i) if x is not None]}


def _break_object(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    source = i.get("object")
    if isinstance(source, str):
        source = _loads(source)
    paths = (c.get("breakConfig") or {}).get("selectedPaths") or []
    return {path: lookup(source, path)[1] for path in paths}


def _system_datetime(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    now = datetime.now().astimezone()
    offset = now.utcoffset()
    return {
        "iso": now.isoformat(),
        "timezone": str(now.tzname()),
        "utc_offset_minutes": int(offset.total_seconds() // 60) if offset else 0,
        "locale": "en_US",
    }


def _make_context(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    extra = i.get("context_extra")
    messages = i.get("messages")
    messages = [] if messages is None else (messages if isinstance(messages, list) else [messages])
    base = dict(extra) if isinstance(extra, Mapping) else {}
    return {"context": {**base, "task": py_text(i.get("task")), "messages": messages}}


def _tools_allowlist(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    raw = c.get("literalValue")
    names = [x.strip() for x in (raw if isinstance(raw, list) else []) if isinstance(x, str) and x.strip()]
    return {"tools": list(dict.fromkeys(names))}


def _tool_parameters(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    tool = (c.get("toolParametersConfig") or {}).get("tool")
    arguments = {k: x for k, x in i.items() if x is not None}
    return {"tool_call": {"name": tool, "arguments": arguments}, **i}


def _edit_json_schema(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    given = i.get("schema")
    schema: dict[str, Any] = dict(given) if isinstance(given, Mapping) else {"type": "object"}
    raw = c.get("literalValue")
    extra: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    properties = dict(schema.get("properties") or {})
    for name, prop in (extra.get("properties") or {}).items():
        properties.setdefault(name, prop)
    schema["properties"] = properties
    required = list(schema.get("required") or [])
    required += [r for r in extra.get("required") or [] if r not in required]
    if required:
        schema["required"] = required
    return {"schema": schema}


def _format_tool_results(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    lines = []
    for result in _array(i.get("tool_results")):
        if not isinstance(result, Mapping):
            continue
        args = result.get("arguments")
        primary = py_text(next(iter(args.values()), "")) if isinstance(args, Mapping) and args else ""
        ok = bool(result.get("success"))
        output = result.get("output")
        observation = (
            (output.get("rendered", output) if isinstance(output, Mapping) else output)
            if ok
            else result.get("error")
        )
        status = "SUCCESS" if ok else "FAILURE"
        lines.append(f"- {py_text(result.get('name'))}({primary}) [{status}] : {py_text(observation)}")
    return {"result": "\n".join(lines)}


def _add_message(i: dict[str, Any], c: dict[str, Any], v: dict[str, Any]) -> Any:
    now = datetime.now().astimezone().isoformat()
    return {
        "message": {
            "role": py_text(i.get("role")),
            "content": py_text(i.get("content")),
            "timestamp": now,
            "metadata": {"message_id": f"msg_{uuid.uuid4().hex}"},
        }
    }


def _truthy(name: str) -> Fn:
    return lambda i, c, v: (
        {"result": bool(i.get("a")) and bool(i.get("b"))}
        if name == "and"
        else ({"result": bool(i.get("a")) or bool(i.get("b"))})
    )


BUILTINS: dict[str, tuple[Fn, str, tuple[str, ...], tuple[str, ...]]] = {
    "add": (_math(lambda a, b: a + b), "a + b", ("a", "b"), ("result",)),
    "subtract": (_math(lambda a, b: a - b), "a - b", ("a", "b"), ("result",)),
    "multiply": (_math(lambda a, b: a * b), "a * b", ("a", "b"), ("result",)),
    "divide": (_math(_divide), "a / b", ("a", "b"), ("result",)),
    "modulo": (_math(_modulo), "a % b (Python's sign rule)", ("a", "b"), ("result",)),
    "power": (_math(lambda a, b: a**b, "base", "exp"), "base ** exp", ("base", "exp"), ("result",)),
    "abs": (lambda i, c, v: {"result": abs(_num(i.get("value")))}, "|value|", ("value",), ("result",)),
    "round": (_round, "Rounds half to even.", ("value", "decimals"), ("result",)),
    "random_int": (_random_int, "An integer in [min, max].", ("min", "max"), ("result",)),
    "random_float": (_random_float, "A float in [min, max].", ("min", "max"), ("result",)),
    "concat": (_concat, "Joins its pins with a separator.", (), ("result",)),
    "split": (_split, "Splits text, trimming parts.", ("text", "delimiter"), ("result",)),
    "join": (_join, "Joins items with a delimiter.", ("items", "delimiter"), ("result",)),
    "format": (_format, "str.format(**values).", ("template", "values"), ("result",)),
    "string_template": (_template, "{{path | filter}} placeholders.", ("template", "vars"), ("result",)),
    "uppercase": (
        lambda i, c, v: {"result": py_text(i.get("text")).upper()},
        "Upper case.",
        ("text",),
        ("result",),
    ),
    "lowercase": (
        lambda i, c, v: {"result": py_text(i.get("text")).lower()},
        "Lower case.",
        ("text",),
        ("result",),
    ),
    "trim": (
        lambda i, c, v: {"result": py_text(i.get("text")).strip()},
        "Strips whitespace.",
        ("text",),
        ("result",),
    ),
    "substring": (
        lambda i, c, v: {
            "result": py_text(i.get("text"))[
                int(_num(i.get("start"))) : (int(_num(i["end"])) if i.get("end") is not None else None)
            ]
        },
        "Python slicing.",
        ("text", "start", "end"),
        ("result",),
    ),
    "length": (
        lambda i, c, v: {"result": len(py_text(i.get("text")))},
        "Characters.",
        ("text",),
        ("result",),
    ),
    "is_empty_string": (
        lambda i, c, v: {"result": py_text(i.get("text")) == ""},
        "Empty or null.",
        ("text",),
        ("result",),
    ),
    "contains": (
        lambda i, c, v: {
            "result": bool(py_text(i.get("pattern"))) and py_text(i.get("pattern")) in py_text(i.get("text"))
        },
        "Substring test.",
        ("text", "pattern"),
        ("result",),
    ),
    "replace": (
        _replace,
        "Replaces all, first or N occurrences.",
        ("text", "pattern", "replacement", "mode"),
        ("result",),
    ),
    "compare": (_compare, "a op b; incomparable is false.", ("a", "op", "b"), ("result",)),
    "not": (lambda i, c, v: {"result": not i.get("value")}, "Negated truthiness.", ("value",), ("result",)),
    "and": (_truthy("and"), "Both truthy.", ("a", "b"), ("result",)),
    "or": (_truthy("or"), "Either truthy.", ("a", "b"), ("result",)),
    "coalesce": (_coalesce, "The first non-null pin.", (), ("result",)),
    "get": (_get, "A (dotted) path of an object.", ("object", "key", "default"), ("value",)),
    "set": (_set, "A copy with a (dotted) key set.", ("object", "key", "value"), ("result",)),
    "merge": (_merge, "b's keys over a's.", ("a", "b"), ("result",)),
    "make_object": (_make_object, "An object of its pins.", (), ("result",)),
    "make_array": (_make_array, "Its non-null pins, in order.", (), ("result",)),
    "array_concat": (_array_concat, "Arrays flattened one level.", (), ("result",)),
    "get_element": (_get_element, "An element by index.", ("array", "index", "default"), ("result", "found")),
    "get_random_element": (_random_element, "A random element.", ("array", "default"), ("result", "found")),
    "array_map": (_array_map, "Each item's key.", ("items", "key"), ("result",)),
    "array_filter": (_array_filter, "Items whose key equals value.", ("items", "key", "value"), ("result",)),
    "array_length": (
        lambda i, c, v: {"result": len(_array(i.get("array")))},
        "Length.",
        ("array",),
        ("result",),
    ),
    "has_tools": (
        lambda i, c, v: {"result": bool(_array(i.get("array")))},
        "A non-empty array.",
        ("array",),
        ("result",),
    ),
    "array_append": (
        lambda i, c, v: {"result": [*_array(i.get("array")), i.get("item")]},
        "Appends.",
        ("array", "item"),
        ("result",),
    ),
    "array_dedup": (_dedup, "First occurrences.", ("array", "key"), ("result",)),
    "parse_json": (_parse_json, "JSON (or a Python literal) from text.", ("text",), ("result",)),
    "stringify_json": (_stringify, "JSON text.", ("value", "mode"), ("result",)),
    "break_object": (_break_object, "Selected paths as pins.", ("object",), ()),
    "make_context": (
        _make_context,
        "{task, messages, ...context_extra}.",
        ("task", "messages", "context_extra"),
        ("context",),
    ),
    "tools_allowlist": (_tools_allowlist, "Tool names, trimmed and unique.", (), ("tools",)),
    "tool_parameters": (_tool_parameters, "A tool call from its pins.", (), ("tool_call",)),
    "edit_json_schema": (_edit_json_schema, "Adds missing properties.", ("schema",), ("schema",)),
    "format_tool_results": (
        _format_tool_results,
        "One line per tool result.",
        ("tool_results",),
        ("result",),
    ),
    "add_message": (_add_message, "A chat message.", ("role", "content"), ("message",)),
    "system_datetime": (
        _system_datetime,
        "The local date and time.",
        (),
        ("iso", "timezone", "utc_offset_minutes", "locale"),
    ),
}


def builtin_types() -> list[PureNode]:
    return [
        pure_type(name, fn, doc, category="builtins", inputs=inputs, outputs=outputs)
        for name, (fn, doc, inputs, outputs) in {**BUILTINS, **ENVELOPE_BUILTINS}.items()
    ]
