"""Variable scopes: node outputs keyed by node id, chained for loop iterations."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flowloom.ir import UNDEFINED, JsonSchema, VariableType

from ._values import TypedValue, declared_type, environment_secret, infer_type, items_type_of, parse_declared


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """A declared output (compiled with the plan): stored as a variable with this type, ``default`` when
    the node gave none."""

    name: str
    default: Any
    declared: VariableType | None
    items: VariableType | None


class Globals:
    """The workflow's global variables: declared defaults, resolved once; and how the run reads a secret
    by name (``reveal``; default: the environment)."""

    __slots__ = ("_values", "reveal")

    def __init__(self, schema: JsonSchema | None, reveal: Callable[[str], str] | None = None) -> None:
        self.reveal = reveal or environment_secret
        self._values: dict[str, TypedValue] = {}
        if schema is not None and schema.properties:
            for key, prop in schema.properties.items():
                vtype = declared_type(prop)
                value = parse_declared(prop.default, vtype)
                self._values[key] = TypedValue(
                    UNDEFINED if value is None else value, vtype or infer_type(value), items_type_of(prop)
                )

    def get(self, key: str) -> TypedValue | None:
        return self._values.get(key)


class Scope:
    """Variables of one run, or of one loop iteration (``parent`` = the enclosing scope). Lookup is
    per node id: the nearest scope holding the node wins.

    A node's outputs are kept as the mapping it returned, next to its compiled output specs, and typed
    when read. Storing them adds no object per node for the cyclic collector to track (a dict of ints is
    untracked); every survivor of a large run is re-traversed by each later full collection."""

    __slots__ = ("_outputs", "_specs", "_typed", "globals", "parent", "path", "signals")

    def __init__(self, globals_: Globals, parent: Scope | None = None, path: tuple[int, ...] = ()) -> None:
        self._outputs: dict[str, Mapping[str, Any]] = {}
        self._specs: dict[str, Mapping[str, OutputSpec]] = {}
        self._typed: dict[str, dict[str, TypedValue]] = {}  # variables set as typed values (loop locals)
        self.globals = globals_
        self.parent = parent
        self.path = path
        self.signals: set[str] = set()

    def child(self, index: int) -> Scope:
        return Scope(self.globals, self, (*self.path, index))

    def signal(self, name: str) -> None:
        self.signals.add(name)

    def lookup(self, node_id: str, key: str) -> TypedValue | None:
        scope: Scope | None = self
        while scope is not None:
            outputs = scope._outputs.get(node_id)
            if outputs is not None:
                spec = scope._specs[node_id].get(key)
                if spec is not None:
                    value = outputs.get(key)
                    if value is None or value is UNDEFINED:
                        value = spec.default
                    return TypedValue(value, spec.declared or infer_type(value), spec.items)
            typed = scope._typed.get(node_id)
            if typed is not None:
                return typed.get(key)
            if outputs is not None:
                return None
            scope = scope.parent
        return None

    def global_variable(self, key: str) -> TypedValue | None:
        return self.globals.get(key)

    def secret(self, name: str) -> str:
        return self.globals.reveal(name)

    def set(self, node_id: str, key: str, value: TypedValue) -> None:
        self._typed.setdefault(node_id, {})[key] = value

    def set_outputs(self, node_id: str, specs: Mapping[str, OutputSpec], outputs: Mapping[str, Any]) -> None:
        """Hold a node's declared outputs as variables: ``value ?? default``, with the declared type (or
        the value's own). ``outputs`` is the engine's from here on: it is read, never copied."""
        if specs:
            self._outputs[node_id] = outputs
            self._specs[node_id] = specs
