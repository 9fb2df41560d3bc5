"""Entry, end and control nodes. A control's progress (which branch, which item) is its entry in the
token's ``ctl``: present while its body runs, so an activation that finds it is a body returning."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from flowloom.engine import NodeContext, NodeError, NodeMetadata, NodeResult, Traits

from ._base import ExecNode, Outcome, State, exec_type
from ._flow import new_token, token_of

AFTER_PORT = "__after__"


class Begin:
    """The synthetic start of a VisualFlow run: the run's inputs become its variables."""

    type: ClassVar[str] = "vf.begin"
    traits: ClassVar[Traits] = Traits(entry=True, lightweight=True)
    metadata: ClassVar[NodeMetadata] = NodeMetadata(
        category="visual/internal", description="Starts a VisualFlow run.", inputs=(), outputs=("exec-out",)
    )

    async def execute(self, ctx: NodeContext) -> NodeResult:
        return NodeResult(outputs=new_token(dict(ctx.run_inputs)))


class Finish:
    """The synthetic end of a path that ends outside any control body: the run succeeds with the last
    node's completion output."""

    type: ClassVar[str] = "vf.finish"
    traits: ClassVar[Traits] = Traits(lightweight=True, terminal=True)
    metadata: ClassVar[NodeMetadata] = NodeMetadata(
        category="visual/internal", description="Ends a VisualFlow path.", inputs=("exec-in",), outputs=()
    )

    async def execute(self, ctx: NodeContext) -> NodeResult:
        done = token_of(ctx)["done"]
        return NodeResult(
            outputs={}, workflow_outputs=done if isinstance(done, Mapping) else {"result": done}
        )


async def on_flow_start(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome:
    declared = ctx.data.get("outputs")
    defaults = ctx.data.get("config", {}).get("pinDefaults") or {}
    variables = state.vars
    if declared:
        out = {pin: variables[pin] if pin in variables else defaults.get(pin) for pin in declared}
    else:
        out = {k: v for k, v in variables.items() if not k.startswith("_")}
        for pin, value in defaults.items():
            out.setdefault(pin, value)
    return Outcome(out)


async def on_flow_end(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome:
    declared = ctx.data.get("inputs")
    pins = [p for p in (declared if declared is not None else inputs) if p in inputs or declared is not None]
    if pins:
        result = {pin: inputs.get(pin) for pin in pins}
    else:
        last = state.last
        result = dict(last) if isinstance(last, Mapping) else ({} if last is None else {"result": last})
    result.setdefault("success", True)
    return Outcome(result, branch=None, end=result)


async def if_(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome:
    taken = bool(inputs.get("condition"))
    branch = "true" if taken else "false"
    return Outcome({"branch": branch, "condition": taken}, branch=branch)


def py_text(value: Any) -> str:
    """Python's ``str`` of a JSON value (``None`` reads as empty text)."""
    return "" if value is None else str(value)


async def switch(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome:
    text = py_text(inputs.get("value"))
    cases = (ctx.data.get("config", {}).get("switchConfig") or {}).get("cases") or []
    for case in cases:
        if (
            isinstance(case, Mapping)
            and "value" in case
            and case["value"] is not None
            and str(case["value"]) == text
        ):
            return Outcome({"value": inputs.get("value")}, branch=f"case:{case['id']}", passthrough=True)
    return Outcome({"value": inputs.get("value")}, branch="default", passthrough=True)


def _branches(ctx: NodeContext, state: State, after: str) -> Outcome:
    ports: list[str] = ctx.data.get("ports", [])
    node_id = ctx.node.id
    step = state.ctl.get(node_id)
    nxt = 0 if step is None else step + 1
    if nxt < len(ports):
        state.ctl[node_id] = nxt
        return Outcome({}, branch=ports[nxt], passthrough=True)
    state.ctl.pop(node_id, None)
    return Outcome({}, branch=after, passthrough=True)


async def sequence(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome:
    return _branches(ctx, state, AFTER_PORT)


async def parallel(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome:
    return _branches(ctx, state, "completed")


def _next_pass(ctx: NodeContext, state: State) -> dict[str, Any] | None:
    """The loop's state if this activation is a body returning (then its body's controls start afresh)."""
    current = state.ctl.get(ctx.node.id)
    if current is not None:
        for member in ctx.data.get("body", ()):
            state.ctl.pop(member, None)
    return current


async def foreach(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome:
    current = _next_pass(ctx, state)
    if current is None:
        items = inputs.get("items")
        items = [] if items is None else (items if isinstance(items, list) else [items])
        index = 0
    else:
        items, index = current["items"], current["index"] + 1
    if index < len(items):
        state.ctl[ctx.node.id] = {"items": items, "index": index}
        return Outcome({"item": items[index], "index": index}, branch="loop")
    state.ctl.pop(ctx.node.id, None)
    return Outcome({"items": items, "count": len(items)}, branch="done", passthrough=True)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


async def for_(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome:
    current = _next_pass(ctx, state)
    if current is None:
        start, end = _number(inputs.get("start", 0)), _number(inputs.get("end"))
        step = _number(inputs.get("step")) if inputs.get("step") is not None else 1.0
        if start is None or end is None or step is None or not (math.isfinite(start) and math.isfinite(end)):
            raise NodeError("For loop requires numeric 'start' and 'end'.")
        if step == 0:
            raise NodeError("For loop requires a non-zero 'step'.")
        current = {"start": start, "end": end, "step": step, "index": -1}
    index = current["index"] + 1
    i = current["start"] + index * current["step"]
    if (current["step"] > 0 and i < current["end"]) or (current["step"] < 0 and i > current["end"]):
        state.ctl[ctx.node.id] = {**current, "index": index}
        return Outcome({"i": i, "index": index}, branch="loop")
    state.ctl.pop(ctx.node.id, None)
    return Outcome({"i": i, "index": index}, branch="done", passthrough=True)


async def while_(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome:
    current = _next_pass(ctx, state)
    index = 0 if current is None else current["index"] + 1
    if inputs.get("condition"):
        state.ctl[ctx.node.id] = {"index": index}
        return Outcome({"index": index, "item": None}, branch="loop")
    state.ctl.pop(ctx.node.id, None)
    return Outcome({"index": index}, branch="done", passthrough=True)


async def loop_limit(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome:
    raw = inputs.get("max", 0)
    limit = _number(raw)
    if limit is None or limit != int(limit) or limit < 0:
        raise NodeError(f"Loop Limit: max must be a whole number, got {raw!r}")
    count = state.ctl.get(ctx.node.id, 0)
    if count < limit:
        state.ctl[ctx.node.id] = count + 1
        return Outcome({"count": count + 1}, branch="again", passthrough=True)
    return Outcome({"count": int(limit)}, branch="limit_reached", passthrough=True)


def control_types() -> list[ExecNode]:
    return [
        exec_type("on_flow_start", on_flow_start, "Where a run starts: its inputs.", category="entry"),
        exec_type(
            "on_flow_end", on_flow_end, "Ends the run with its pins as outputs.", category="entry", outputs=()
        ),
        exec_type(
            "if",
            if_,
            "Takes true or false by the condition's truthiness.",
            category="control",
            inputs=("condition",),
            outputs=("true", "false"),
        ),
        exec_type(
            "switch",
            switch,
            "Takes the case whose value equals str(value), else default.",
            category="control",
            inputs=("value",),
            outputs=("default",),
        ),
        exec_type(
            "sequence",
            sequence,
            "Runs then:0, then:1, ... one after another.",
            category="control",
            outputs=(),
        ),
        exec_type(
            "parallel",
            parallel,
            "Runs then:0, then:1, ... in order, then completed.",
            category="control",
            outputs=("completed",),
        ),
        exec_type(
            "loop",
            foreach,
            "Runs its loop body once per item, then done.",
            category="control",
            inputs=("items",),
            outputs=("loop", "done", "item", "index"),
        ),
        exec_type(
            "for",
            for_,
            "Runs its body for i from start while below end, by step.",
            category="control",
            inputs=("start", "end", "step"),
            outputs=("loop", "done", "i", "index"),
        ),
        exec_type(
            "while",
            while_,
            "Runs its body while the condition holds (pulled before each pass).",
            category="control",
            inputs=("condition",),
            outputs=("loop", "done", "index"),
        ),
        exec_type(
            "loop_limit",
            loop_limit,
            "Lets execution through again at most max times.",
            category="control",
            inputs=("max",),
            outputs=("again", "limit_reached", "count"),
            own_pins_only=True,
        ),
    ]
