"""Typed values, runtime type inference, and flow values compiled into resolvers.

A flow value is compiled once per plan into a small resolver object; resolving it in a scope is then a
few dict lookups. Semantics follow upstream ``state.parseFlowValue`` (SPEC §A3).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from flowloom.ir import (
    GLOBAL_NAMESPACE,
    UNDEFINED,
    FlowValue,
    FlowValueType,
    JsonSchema,
    VariableType,
    js_json,
    template_text,
)

_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z?$")
_PLACEHOLDER = re.compile(r"\{\{([^}]+)\}\}")
_JSON_TEXT_TYPES = frozenset({VariableType.OBJECT, VariableType.ARRAY, VariableType.MAP})
_NUMERIC = frozenset({VariableType.NUMBER, VariableType.INTEGER})


class TypedValue(NamedTuple):
    """A variable: its value (``UNDEFINED`` when declared but unset), its type and its items' type."""

    value: Any
    type: VariableType
    items_type: VariableType | None = None


MISSING = TypedValue(None, VariableType.NULL)


class FlowValueError(Exception):
    """A flow value that cannot be resolved (unknown kind, malformed ref)."""


class SecretNotSetError(FlowValueError):
    """A secret by name (``{"type": "secret", "content": NAME}``) whose environment variable is not set."""

    def __init__(self, name: str) -> None:
        super().__init__(f'secret "{name}" is not set: set the environment variable {name}')
        self.name = name


def environment_secret(name: str) -> str:
    """The secret ``name`` from the environment; ``SecretNotSetError`` if it is not set."""
    value = os.environ.get(name)
    if value is None:
        raise SecretNotSetError(name)
    return value


def infer_type(value: Any) -> VariableType:
    """Upstream ``getWorkflowType``: the runtime type of a JSON value."""
    if value is None or value is UNDEFINED:
        return VariableType.NULL
    if isinstance(value, str):
        return VariableType.DATE_TIME if _DATE_TIME.match(value) else VariableType.STRING
    if isinstance(value, bool):
        return VariableType.BOOLEAN
    if isinstance(value, int):
        return VariableType.INTEGER
    if isinstance(value, float):
        return VariableType.INTEGER if value.is_integer() else VariableType.NUMBER
    if isinstance(value, list | tuple):
        return VariableType.ARRAY
    return VariableType.OBJECT


def infer_typed(value: Any) -> TypedValue:
    """A runtime-typed value; an array's items take the type of its first element."""
    vtype = infer_type(value)
    items = infer_type(value[0]) if vtype == VariableType.ARRAY and value else None
    return TypedValue(value, vtype, items)


def declared_type(schema: JsonSchema | None) -> VariableType | None:
    if schema is None or schema.type is None:
        return None
    try:
        return VariableType(schema.type)
    except ValueError:
        return None


def items_type_of(schema: JsonSchema | None) -> VariableType | None:
    return declared_type(schema.items) if schema is not None else None


def same_type(a: VariableType, b: VariableType) -> bool:
    """Type equality for input binding: number and integer count as one."""
    return a == b or (a in _NUMERIC and b in _NUMERIC)


def parse_declared(value: Any, vtype: VariableType | None) -> Any:
    """Constants and defaults declared as object/array/map may be given as JSON text."""
    if isinstance(value, str) and vtype in _JSON_TEXT_TYPES:
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def get_path(value: Any, path: tuple[str, ...]) -> Any:
    """``lodash.get``: object keys and array indexes; ``UNDEFINED`` where the path leads nowhere."""
    for key in path:
        if isinstance(value, Mapping):
            if key not in value:
                return UNDEFINED
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        elif isinstance(value, str) and key == "length":
            value = len(value)
        elif isinstance(value, list) and key == "length":
            value = len(value)
        else:
            return UNDEFINED
    return value


class VariableLookup(Protocol):
    """Where resolvers read variables from: a run scope."""

    def lookup(self, node_id: str, key: str) -> TypedValue | None: ...

    def global_variable(self, key: str) -> TypedValue | None: ...

    def secret(self, name: str) -> str:
        """The secret called ``name`` (``SecretNotSetError`` if there is none); the run hides it from then
        on."""
        ...


class Resolver(Protocol):
    def __call__(self, scope: VariableLookup) -> TypedValue: ...


class _Constant:
    __slots__ = ("typed",)

    def __init__(self, content: Any, vtype: VariableType | None, items: VariableType | None) -> None:
        value = parse_declared(content, vtype)
        self.typed = TypedValue(value, vtype or infer_type(value), items)

    def __call__(self, scope: VariableLookup) -> TypedValue:
        return self.typed


class _Ref:
    __slots__ = ("key", "node_id", "path")

    def __init__(self, node_id: str, key: str, path: tuple[str, ...]) -> None:
        self.node_id = node_id
        self.key = key
        self.path = path

    def __call__(self, scope: VariableLookup) -> TypedValue:
        if self.node_id == GLOBAL_NAMESPACE:
            var = scope.global_variable(self.key)
        else:
            var = scope.lookup(self.node_id, self.key)
        if var is None:
            return MISSING
        if not self.path:
            return var
        return infer_typed(get_path(var.value, self.path))


class _Template:
    __slots__ = ("parts",)

    def __init__(self, text: str) -> None:
        # Alternating literal text and compiled refs.
        parts: list[str | _Ref] = []
        last = 0
        for match in _PLACEHOLDER.finditer(text):
            parts.append(text[last : match.start()])
            names = match.group(1).strip().split(".")
            parts.append(_Ref(names[0], names[1], tuple(names[2:])) if len(names) >= 2 else "")
            last = match.end()
        parts.append(text[last:])
        self.parts = tuple(p for p in parts if p != "")

    def __call__(self, scope: VariableLookup) -> TypedValue:
        rendered = [p if isinstance(p, str) else _render(p(scope)) for p in self.parts]
        return TypedValue("".join(rendered), VariableType.STRING)


def _render(var: TypedValue) -> str:
    return template_text(UNDEFINED if var is MISSING else var.value)


class _Secret:
    """A secret by name: read from the run's secrets (the environment) each time it is used, never stored."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, scope: VariableLookup) -> TypedValue:
        return TypedValue(scope.secret(self.name), VariableType.STRING)


class _Failing:
    """A flow value that is an error when used (upstream fails the node, not the whole workflow)."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def __call__(self, scope: VariableLookup) -> TypedValue:
        raise FlowValueError(self.message)


def compile_ref(raw: Any) -> Resolver:
    """A ref ``[nodeID, key, ...path]``; one with fewer than two parts resolves to nothing."""
    if not isinstance(raw, list) or not all(isinstance(p, str | int) for p in raw):
        return _Failing(f"Invalid ref value: {js_json(raw)}")
    parts = [str(p) for p in raw]
    if len(parts) < 2:
        return _Constant(None, VariableType.NULL, None)
    return _Ref(parts[0], parts[1], tuple(parts[2:]))


def compile_flow_value(raw: Any, schema: JsonSchema | None = None) -> Resolver:
    """Compile one flow value (a ``FlowValue`` or its JSON) for a declared schema."""
    kind, content = _kind_and_content(raw)
    if kind is None:
        return _Failing(f"Invalid flow value: {js_json(raw)}")
    if kind == FlowValueType.CONSTANT:
        return _Constant(content, declared_type(schema), items_type_of(schema))
    if kind == FlowValueType.REF:
        return compile_ref(content)
    if kind == FlowValueType.TEMPLATE:
        return _Template(content if isinstance(content, str) else "")
    if kind == FlowValueType.SECRET:
        if isinstance(content, str) and content:
            return _Secret(content)
        return _Failing(
            f"Invalid secret value: {js_json(raw)} (content: the name of an environment variable)"
        )
    return _Failing(f"Unknown flow value type: {kind}")


def compile_strict_ref(raw: Any) -> Resolver:
    """An operand that must be a ref (a condition's left side, a loop's ``loopFor``)."""
    kind, content = _kind_and_content(raw)
    if kind != FlowValueType.REF:
        return _Failing(f"Invalid ref value: {js_json(raw)}")
    return compile_ref(content)


def _kind_and_content(raw: Any) -> tuple[str | None, Any]:
    # JSON dicts first: an isinstance check against a pydantic model class is slow.
    if type(raw) is dict or isinstance(raw, Mapping):
        kind = raw.get("type")
        return (kind, raw.get("content")) if isinstance(kind, str) else (None, None)
    if isinstance(raw, FlowValue):
        return raw.type, raw.content
    return None, None
