"""How a VisualFlow run moves: one token passes from exec node to exec node along the taken edges. It holds
the run variables (``vars``), the pipeline value (``last``: the previous exec node's output), the latest
output of every exec node (``outs``, for data edges), the state of the controls in progress (``ctl``) and the
output the run ends with if the path ends here (``done``). A node's recorded outputs are its token, so a
resumed run replays from the store exactly where it was. Pure nodes are pulled when a pin reads them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowloom.engine import NodeContext, NodeError

from ._pinexpr import apply_pin_expressions
from ._pulls import program_for

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
    if isinstance(output, Mapping) and handle in output:
        return output[handle]
    if handle in ("result", "output"):
        return output
    return None


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
        data = self.ctx.data
        config = data.get("config", {})
        declared = data.get("inputs")
        wires: dict[str, list[str]] = data.get("wires", {})
        defaults: dict[str, Any] = config.get("pinDefaults") or {}
        overrides = self._route_overrides()
        last = self.token.get("last")
        names = dict.fromkeys([*(declared or ()), *wires, *defaults, *known])
        values: dict[str, Any] = {}
        for pin in names:
            if pin in overrides:
                value = await self.source(*overrides[pin])
            elif pin in wires:
                value = await self.source(*wires[pin])
            elif pin in defaults and (declared is None or pin in declared):
                value = defaults[pin]
            elif not own_pins_only and isinstance(last, Mapping) and pin in last:
                value = last[pin]
            elif pin in defaults:
                value = defaults[pin]
            else:
                continue
            values[pin] = value
        if config.get("pinExpressions"):
            values = await apply_pin_expressions(self.ctx, values, self.token["vars"])
        return values

    def _route_overrides(self) -> dict[str, list[str]]:
        data, trigger = self.ctx.data, self.ctx.trigger
        routes = data.get("routes")
        if not routes or trigger is None:
            return {}
        key = routes.get(f"{trigger.source}\x00{trigger.port}")
        return {pin: by_route[key] for pin, by_route in data.get("overrides", {}).items() if key in by_route}
