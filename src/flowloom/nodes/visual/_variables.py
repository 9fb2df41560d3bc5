"""Run variables: the set_* exec nodes write them (dotted names nest), the pure readers read them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flowloom.engine import NodeContext, NodeError

from ._base import ExecNode, Outcome, PureNode, State, exec_type, pure_type

_ZERO = {"number": 0, "integer": 0, "string": "", "boolean": False, "object": {}, "array": []}


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise NodeError("Set Variable requires a non-empty variable name.")
    if name.startswith("_"):
        raise NodeError(f"Set Variable: names starting with '_' are reserved ({name!r})")
    return name


def put(variables: dict[str, Any], name: str, value: Any) -> None:
    """Set a (dotted) variable, copying the objects on its path."""
    parts = name.split(".")
    cursor = variables
    for part in parts[:-1]:
        child = cursor.get(part)
        child = dict(child) if isinstance(child, Mapping) else {}
        cursor[part] = child
        cursor = child
    cursor[parts[-1]] = value


def lookup(variables: Any, path: str) -> tuple[bool, Any]:
    cursor = variables
    for part in path.split("."):
        if isinstance(cursor, Mapping) and part in cursor:
            cursor = cursor[part]
        elif (
            isinstance(cursor, list)
            and part.lstrip("-").isdigit()
            and -len(cursor) <= int(part) < len(cursor)
        ):
            cursor = cursor[int(part)]
        else:
            return False, None
    return True, cursor


async def set_var(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome:
    name = _check_name(inputs.get("name"))
    if "value" in inputs:
        value = inputs["value"]
    else:
        value = _ZERO.get(str(ctx.data.get("input_types", {}).get("value")))
    put(state.writable_vars(), name, value)
    return Outcome({"value": value}, passthrough=True)


def _updates(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str) and raw.strip():
        try:
            raw = json.loads(raw)
        except ValueError:
            raise NodeError("Set Variables: updates is not valid JSON") from None
    return dict(raw) if isinstance(raw, Mapping) else {}


async def set_vars(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome:
    updates = _updates(inputs.get("updates"))
    for pin, value in inputs.items():
        if pin != "updates":
            updates[pin] = value
    variables = state.writable_vars()
    for name, value in updates.items():
        put(variables, _check_name(name), value)
    return Outcome({"updates": updates}, passthrough=True)


async def set_var_property(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome:
    name = _check_name(inputs.get("name"))
    found, current = lookup(state.vars, name)
    target = dict(current) if found and isinstance(current, Mapping) else {}
    key = inputs.get("key")
    if not isinstance(key, str) or not key:
        raise NodeError("Set Variable Property requires a key.")
    put(target, key, inputs.get("value"))
    put(state.writable_vars(), name, target)
    return Outcome({"value": target}, passthrough=True)


async def add_to_list(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome:
    name = _check_name(inputs.get("name"))
    found, current = lookup(state.vars, name)
    if found and current is not None and not isinstance(current, list):
        raise NodeError(f"Add to List: variable '{name}' holds a {type(current).__name__}, not a list")
    items = list(current or [])
    if inputs.get("item") is not None:
        items.append(inputs["item"])
    extra = inputs.get("items")
    if isinstance(extra, list):
        items.extend(extra)
    elif extra is not None:
        items.append(extra)
    put(state.writable_vars(), name, items)
    return Outcome({"list": items}, passthrough=True)


def _literal(inputs: dict[str, Any], config: dict[str, Any], variables: dict[str, Any]) -> Any:
    return {"value": config.get("literalValue")}


def _get_var(inputs: dict[str, Any], config: dict[str, Any], variables: dict[str, Any]) -> Any:
    name = inputs.get("name")
    found, value = lookup(variables, str(name)) if isinstance(name, str) and name else (False, None)
    return {"value": value if found else inputs.get("default")}


def _var_decl(inputs: dict[str, Any], config: dict[str, Any], variables: dict[str, Any]) -> Any:
    raw = config.get("literalValue")
    decl: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    name = str(decl.get("name") or "")
    vtype = str(decl.get("type") or "any")
    default = decl["default"] if "default" in decl else _ZERO.get(vtype)
    found, value = lookup(variables, name) if name else (False, None)
    checks = {
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "object": lambda v: isinstance(v, Mapping),
        "array": lambda v: isinstance(v, list),
    }
    ok = found and (vtype not in checks or checks[vtype](value))
    return {"name": name, "value": value if ok else default}


def _bool_var(inputs: dict[str, Any], config: dict[str, Any], variables: dict[str, Any]) -> Any:
    raw = config.get("literalValue")
    decl = raw if isinstance(raw, Mapping) else {"name": raw}
    name = str(decl.get("name") or "")
    default = bool(decl.get("default", False))
    found, value = lookup(variables, name) if name else (False, None)
    return {"name": name, "value": value if found and isinstance(value, bool) else default}


def _get_vars(inputs: dict[str, Any], config: dict[str, Any], variables: dict[str, Any]) -> Any:
    return _AllVars(variables)


class _AllVars(dict[str, Any]):
    """get_vars' outputs: every (dotted) variable name reads that variable, an unset one null."""

    def __init__(self, variables: dict[str, Any]) -> None:
        super().__init__()
        self.variables = variables

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str)

    def __getitem__(self, key: str) -> Any:
        return lookup(self.variables, key)[1]


def _get_context(inputs: dict[str, Any], config: dict[str, Any], variables: dict[str, Any]) -> Any:
    context = variables.get("context")
    context = context if isinstance(context, Mapping) else {}
    task = context.get("task")
    messages = context.get("messages")
    messages = [] if messages is None else (messages if isinstance(messages, list) else [messages])
    return {"context": context, "task": "" if task is None else str(task), "messages": messages}


def variable_types() -> list[ExecNode | PureNode]:
    literal_doc = "A constant (literalValue)."
    return [
        exec_type(
            "set_var",
            set_var,
            "Sets a run variable (dotted names nest).",
            category="variables",
            inputs=("name", "value"),
            outputs=("exec-out", "value"),
        ),
        exec_type(
            "set_vars",
            set_vars,
            "Sets one variable per pin and the keys of updates.",
            category="variables",
            inputs=("updates",),
            outputs=("exec-out", "updates"),
            own_pins_only=True,
        ),
        exec_type(
            "set_var_property",
            set_var_property,
            "Sets a key inside an object variable.",
            category="variables",
            inputs=("name", "key", "value"),
            outputs=("exec-out", "value"),
        ),
        exec_type(
            "add_to_list",
            add_to_list,
            "Appends item, then each of items, to a list variable.",
            category="variables",
            inputs=("name", "item", "items"),
            outputs=("exec-out", "list"),
            own_pins_only=True,
        ),
        *(
            pure_type(name, _literal, literal_doc, category="literals", inputs=(), outputs=("value",))
            for name in (
                "literal_string",
                "literal_number",
                "literal_boolean",
                "literal_json",
                "literal_array",
                "json_schema",
            )
        ),
        pure_type(
            "get_var",
            _get_var,
            "Reads a (dotted) run variable.",
            category="variables",
            inputs=("name", "default"),
            outputs=("value",),
        ),
        pure_type(
            "var_decl",
            _var_decl,
            "A typed variable with a default.",
            category="variables",
            inputs=(),
            outputs=("name", "value"),
        ),
        pure_type(
            "bool_var",
            _bool_var,
            "A boolean variable with a default.",
            category="variables",
            inputs=(),
            outputs=("name", "value"),
        ),
        pure_type(
            "get_vars",
            _get_vars,
            "Every variable, one pin per name.",
            category="variables",
            inputs=(),
            outputs=(),
        ),
        pure_type(
            "get_context",
            _get_context,
            "The run's context variable.",
            category="variables",
            inputs=(),
            outputs=("context", "task", "messages"),
        ),
    ]
