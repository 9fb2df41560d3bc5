"""How a VisualFlow run moves: one token passes from exec node to exec node along the taken edges. It holds
the run variables (``vars``), the pipeline value (``last``: the previous exec node's output), the latest
output of every exec node (``outs``, for data edges), the state of the controls in progress (``ctl``) and the
output the run ends with if the path ends here (``done``). A node's recorded outputs are its token, so a
resumed run replays from the store exactly where it was. Pure nodes are pulled when a pin reads them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flowloom.engine import NodeContext, NodeError

from ._pinexpr import apply_pin_expressions
from ._pulls import SCALARS, prepared_cell, program_for

MISSING: Any = object()
VARS = "$vars"  # what a pulled node reads the run variables from


def new_token(variables: dict[str, Any]) -> dict[str, Any]:
    return {"vars": variables, "last": None, "outs": {}, "ctl": {}, "done": {"success": True}}


def token_of(ctx: NodeContext) -> dict[str, Any]:
    trigger = ctx.trigger
    outputs = trigger.outputs if trigger is not None else None
    if not isinstance(outputs, Mapping) or "vars" not in outputs:
        return new_token(dict(ctx.run_inputs))
    return dict(outputs)


def pure_value(outputs: Any) -> Any:
    """A pure node's value as a pin reads it: a builtin with the single output ``result`` is its value
    (so reading ``result`` of a dict that has that key gives the key, ``data-merge-result-key-quirk``)."""
    if isinstance(outputs, dict) and len(outputs) == 1 and "result" in outputs:
        return outputs["result"]
    return outputs


def read_pin(output: Any, handle: str) -> Any:
    """A source pin's value: the output's key, else the whole output for ``result``/``output``."""
    if type(output) not in SCALARS and isinstance(output, Mapping) and handle in output:
        return output[handle]
    if handle in ("result", "output"):
        return output
    return None


WIRE_PURE, WIRE_TOKEN, CONSTANT, FROM_LAST, UNSET = 0, 1, 2, 3, 4
PINS_KEY = "pins"  # where an exec node keeps its ``PinPlan``, in its prepared cell
_NO_OVERRIDES: Mapping[str, Any] = {}


@dataclass(frozen=True, slots=True)
class PinPlan:
    """How an exec node's pins get their values, worked out on its first execution: for each pin in order,
    (pin, kind, a, b): WIRE_PURE (a: the pure source and its compiled pull, b: the handle), WIRE_TOKEN (a:
    the exec source, b: the handle), CONSTANT (a: the default), FROM_LAST (the pipeline value's key, else
    a: whether there is a default, b: the default), UNSET (none, unless a route overrides it)."""

    pins: tuple[tuple[str, int, Any, Any], ...]
    routed: bool  # some route may override a pin's wire, per activation
    expressions: bool


def _pin_plan(ctx: NodeContext, known: tuple[str, ...], own_pins_only: bool) -> PinPlan:
    data = ctx.data
    config = data.get("config", {})
    declared = data.get("inputs")
    wires: dict[str, list[str]] = data.get("wires", {})
    defaults: dict[str, Any] = config.get("pinDefaults") or {}
    pins: list[tuple[str, int, Any, Any]] = []
    for pin in dict.fromkeys([*(declared or ()), *wires, *defaults, *known]):
        if pin in wires:
            src, handle = wires[pin]
            if ctx.pulled_node(src) is not None:
                pins.append((pin, WIRE_PURE, (src, program_for(ctx, src)), handle))
            else:
                pins.append((pin, WIRE_TOKEN, src, handle))
        elif pin in defaults and (declared is None or pin in declared):
            pins.append((pin, CONSTANT, defaults[pin], None))
        elif not own_pins_only:
            pins.append((pin, FROM_LAST, pin in defaults, defaults.get(pin)))
        elif pin in defaults:
            pins.append((pin, CONSTANT, defaults[pin], None))
        else:
            pins.append((pin, UNSET, None, None))  # only a route override gives it a value
    plan = PinPlan(tuple(pins), bool(data.get("routes")), bool(config.get("pinExpressions")))
    prepared_cell(ctx)[PINS_KEY] = plan
    return plan


class Pins:
    """Resolves a node's input pins against a token: wires (pulling pure nodes), defaults, the pipeline."""

    def __init__(self, ctx: NodeContext, token: Mapping[str, Any]) -> None:
        self.ctx = ctx
        self.token = token

    async def source(self, src: str, handle: str) -> Any:
        if self.ctx.pulled_node(src) is not None:
            program = program_for(self.ctx, src)
            if program is not None:
                return read_pin(pure_value(program.run(self.token["outs"], self.token["vars"])), handle)
            return read_pin(pure_value(await self.pure(src)), handle)
        return read_pin(self.token["outs"].get(src), handle)

    async def pure(self, root: str) -> Any:
        """Compute the pure node ``root`` and the pure nodes it reads, depth first without recursion;
        every pull computes them again (pure nodes are not cached across pulls)."""
        ctx, outs = self.ctx, self.token["outs"]
        memo: dict[str, Any] = {}
        expanded: set[str] = set()
        stack = [root]
        while stack:
            nid = stack[-1]
            if nid in memo:
                stack.pop()
                continue
            node = ctx.pulled_node(nid)
            assert node is not None
            wires = node.data.get("wires", {})
            deps = [src for src, _h in wires.values() if src not in memo and ctx.pulled_node(src) is not None]
            if deps:
                if nid in expanded or any(dep in expanded for dep in deps):
                    raise NodeError(f"Data edge cycle detected at node '{nid}'")
                expanded.add(nid)
                stack.extend(deps)
                continue
            inputs: dict[str, Any] = dict.fromkeys(p for p in node.data.get("inputs") or () if p in wires)
            for pin, (src, handle) in wires.items():
                inputs[pin] = read_pin(pure_value(memo[src]) if src in memo else outs.get(src), handle)
            defaults = node.data.get("config", {}).get("pinDefaults") or {}
            inputs.update({pin: value for pin, value in defaults.items() if pin not in wires})
            order = node.data.get("inputs")
            if order:  # pin order, as the node declares its pins (concat, coalesce, make_array)
                inputs = {p: inputs[p] for p in [*order, *inputs] if p in inputs}
            inputs[VARS] = self.token["vars"]
            memo[nid] = await ctx.pull(nid, inputs)
            expanded.discard(nid)
            stack.pop()
        return memo[root]

    async def resolve(self, known: tuple[str, ...], own_pins_only: bool) -> dict[str, Any]:
        """Every pin of the node, first match wins: a route override, its wire, its declared default, the
        same-named key of the pipeline value, an undeclared default."""
        ctx, token = self.ctx, self.token
        plan: PinPlan = prepared_cell(ctx).get(PINS_KEY) or _pin_plan(ctx, known, own_pins_only)
        overrides = self._route_overrides() if plan.routed else _NO_OVERRIDES
        last = token["last"]
        last_keys = last if isinstance(last, Mapping) else _NO_OVERRIDES
        values: dict[str, Any] = {}
        for pin, kind, a, b in plan.pins:
            if overrides and pin in overrides:
                value = await self.source(*overrides[pin])
            elif kind == WIRE_PURE:
                program = a[1]
                if program is None:
                    output = await self.pure(a[0])
                else:
                    output = program.run(token["outs"], token["vars"])
                value = read_pin(pure_value(output), b)
            elif kind == WIRE_TOKEN:
                value = read_pin(token["outs"].get(a), b)
            elif kind == CONSTANT:
                value = a
            elif kind == UNSET:
                continue
            elif pin in last_keys:
                value = last_keys[pin]
            elif a:
                value = b
            else:
                continue
            values[pin] = value
        if plan.expressions:
            values = await apply_pin_expressions(ctx, values, token["vars"])
        return values

    def _route_overrides(self) -> dict[str, list[str]]:
        data, trigger = self.ctx.data, self.ctx.trigger
        routes = data.get("routes")
        if not routes or trigger is None:
            return {}
        key = routes.get(f"{trigger.source}\x00{trigger.port}")
        return {pin: by_route[key] for pin, by_route in data.get("overrides", {}).items() if key in by_route}
