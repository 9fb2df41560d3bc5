"""Variable scopes: node outputs keyed by node id, chained for loop iterations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flowloom.ir import UNDEFINED, JsonSchema

from ._values import TypedValue, declared_type, infer_type, items_type_of, parse_declared

if TYPE_CHECKING:
    from ._plan import OutputSpec


class Globals:
    """The workflow's global variables: declared defaults, resolved once."""

    __slots__ = ("_values",)

    def __init__(self, schema: JsonSchema | None) -> None:
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
    per node id: the nearest scope holding the node wins."""

    __slots__ = ("_vars", "globals", "parent", "path", "signals")

    def __init__(self, globals_: Globals, parent: Scope | None = None, path: tuple[int, ...] = ()) -> None:
        self._vars: dict[str, dict[str, TypedValue]] = {}
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
            node_vars = scope._vars.get(node_id)
            if node_vars is not None:
                return node_vars.get(key)
            scope = scope.parent
        return None

    def global_variable(self, key: str) -> TypedValue | None:
        return self.globals.get(key)

    def set(self, node_id: str, key: str, value: TypedValue) -> None:
        self._vars.setdefault(node_id, {})[key] = value

    def set_outputs(self, node_id: str, specs: tuple[OutputSpec, ...], outputs: Mapping[str, Any]) -> None:
        """Store a node's declared outputs as variables: ``value ?? default``, with the declared type."""
        if not specs:
            return
        node_vars = self._vars.get(node_id)
        if node_vars is None:
            node_vars = self._vars[node_id] = {}
        get = outputs.get
        for spec in specs:
            value = get(spec.name)
            if value is None or value is UNDEFINED:
                value = spec.default
            node_vars[spec.name] = TypedValue(value, spec.declared or infer_type(value), spec.items)
