"""Pulls compiled once: what a pin that reads a pure node computes, as a flat program kept with the
consumer's plan. Walking the pure sub-graph (its wires, defaults, pin order, which sources are pure) is
done on the first pull; later pulls only run the steps, calling each builtin's ``compute`` directly rather
than through a node context. The program computes the same nodes in the same order with the same inputs as
the walk in ``Pins.pure`` does; a sub-graph that holds a cycle, pin expressions or a pulled executor that is
not a plain pure builtin keeps that walk (``None``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flowloom.engine import NodeContext

Compute = Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], Any]

FROM_PURE, FROM_TOKEN, CONSTANT = 0, 1, 2
SCALARS = frozenset({int, float, str, bool, type(None), list})  # never a Mapping: skips the ABC check
PULLS_KEY = "pulls"  # where a consumer keeps its programs, in its prepared cell (see ``_sandboxed.cached``)


@dataclass(frozen=True, slots=True)
class Step:
    """One pure node: how each input pin gets its value, in the order the node sees its pins."""

    compute: Compute
    config: dict[str, Any]
    # (pin, kind, a, b): FROM_PURE (a: the step index, b: the handle), FROM_TOKEN (a: the exec node id,
    # b: the handle), CONSTANT (a: the default)
    pins: tuple[tuple[str, int, Any, Any], ...]


@dataclass(frozen=True, slots=True)
class Program:
    """The steps of one pull, in the order they run; the last computes the pulled node."""

    steps: tuple[Step, ...]

    def run(self, outs: Mapping[str, Any], variables: dict[str, Any] | None) -> Any:
        """The pulled node's outputs, computed from the token's exec outputs and run variables."""
        done: list[Any] = []
        variables = variables or {}
        for step in self.steps:
            inputs: dict[str, Any] = {}
            for pin, kind, a, b in step.pins:
                if kind == FROM_PURE:
                    value = done[a]
                    if isinstance(value, dict) and len(value) == 1 and "result" in value:
                        value = value["result"]  # pure_value
                elif kind == FROM_TOKEN:
                    value = outs.get(a)
                else:
                    inputs[pin] = a
                    continue
                # read_pin
                if type(value) not in SCALARS and isinstance(value, Mapping) and b in value:
                    value = value[b]
                elif b not in ("result", "output"):
                    value = None
                inputs[pin] = value
            done.append(step.compute(inputs, step.config, variables))
        return done[-1]


def prepared_cell(ctx: NodeContext) -> dict[str, Any]:
    """What a VisualFlow node keeps with the plan, by key: built scripts, compiled pulls, its pin plan."""
    return ctx.prepared(_new_cell)


def _new_cell(_node: Any) -> dict[str, Any]:
    return {}


def program_for(ctx: NodeContext, root: str) -> Program | None:
    """The program that pulls ``root`` for this consumer, compiled on its first pull."""
    programs: dict[str, Program | None] = prepared_cell(ctx).setdefault(PULLS_KEY, {})
    if root in programs:
        return programs[root]
    program = programs[root] = _compile(ctx, root)
    return program


def _order(ctx: NodeContext, root: str) -> list[str] | None:
    """The order ``Pins.pure`` computes the pure nodes of a pull in (its walk without computing);
    ``None`` for a cycle."""
    done: dict[str, int] = {}
    expanded: set[str] = set()
    stack = [root]
    while stack:
        nid = stack[-1]
        if nid in done:
            stack.pop()
            continue
        node = ctx.pulled_node(nid)
        assert node is not None
        wires = node.data.get("wires", {})
        deps = [src for src, _h in wires.values() if src not in done and ctx.pulled_node(src) is not None]
        if deps:
            if nid in expanded or any(dep in expanded for dep in deps):
                return None
            expanded.add(nid)
            stack.extend(deps)
            continue
        done[nid] = len(done)
        expanded.discard(nid)
        stack.pop()
    return list(done)


def _compile(ctx: NodeContext, root: str) -> Program | None:
    order = _order(ctx, root)
    if order is None:
        return None
    position = {nid: index for index, nid in enumerate(order)}
    steps: list[Step] = []
    for nid in order:
        executor = ctx.pulled_executor(nid)
        node = ctx.pulled_node(nid)
        assert node is not None
        config = node.data.get("config", {})
        if not getattr(executor, "direct_pull", False):  # see PureNode.direct_pull
            return None
        if config.get("pinExpressions"):
            return None
        steps.append(Step(type(executor).compute, config, _pins(node.data, position)))
    return Program(tuple(steps))


def _pins(data: Mapping[str, Any], position: Mapping[str, int]) -> tuple[tuple[str, int, Any, Any], ...]:
    """A pure node's pins as ``Pins.pure`` builds them: the wired ones (declared first), then the unwired
    defaults, put in the node's declared pin order."""
    wires: dict[str, list[str]] = data.get("wires", {})
    declared = data.get("inputs")
    # the declared wired pins first (their values come below)
    specs: dict[str, Any] = dict.fromkeys(p for p in declared or () if p in wires)
    for pin, (src, handle) in wires.items():
        if src in position:
            specs[pin] = (pin, FROM_PURE, position[src], handle)
        else:
            specs[pin] = (pin, FROM_TOKEN, src, handle)
    defaults = data.get("config", {}).get("pinDefaults") or {}
    specs.update({pin: (pin, CONSTANT, value, None) for pin, value in defaults.items() if pin not in wires})
    if declared:
        specs = {p: specs[p] for p in [*declared, *specs] if p in specs}
    return tuple(specs.values())
