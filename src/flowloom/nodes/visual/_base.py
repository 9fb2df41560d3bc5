"""The two kinds of visual executors: exec nodes (re-entrant, moved by the token, see ``_flow``) and pure
nodes (pulled). Each node type is a small handler; ``exec_type``/``pure_type`` make its executor class with
its ``NodeMetadata``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from flowloom.engine import NodeContext, NodeMetadata, NodeResult, Traits
from flowloom.ir import Wait

from ._flow import VARS, Pins, token_of
from ._pinexpr import apply_pin_expressions
from ._pulls import Compute

IR_PREFIX = "vf."
EXEC_OUT = "exec-out"


class State:
    """What a handler may change: the run variables (copied on first write), control states, and it reads
    the pipeline value."""

    def __init__(self, token: Mapping[str, Any]) -> None:
        self._vars: dict[str, Any] = token["vars"]
        self._copied = False
        self.ctl: dict[str, Any] = dict(token["ctl"])
        self.last: Any = token["last"]

    @property
    def vars(self) -> dict[str, Any]:
        return self._vars

    def writable_vars(self) -> dict[str, Any]:
        if not self._copied:
            self._vars = dict(self._vars)
            self._copied = True
        return self._vars


@dataclass(frozen=True, slots=True)
class Outcome:
    """A handler's result: the node's output, the exec port it takes, whether the pipeline value passes
    through it unchanged (set_var and the like), and the run's outputs when it ends the run."""

    out: Any
    branch: str | None = EXEC_OUT
    passthrough: bool = False
    end: Mapping[str, Any] | None = None


Handler = Callable[[NodeContext, dict[str, Any], State], Awaitable[Outcome | Wait]]


class ExecNode:
    """A VisualFlow exec node: resolves its pins, runs its handler, passes the token on."""

    type: ClassVar[str]
    traits: ClassVar[Traits] = Traits(lightweight=True, terminal=True)
    metadata: ClassVar[NodeMetadata]
    pins: ClassVar[tuple[str, ...]] = ()
    own_pins_only: ClassVar[bool] = False
    handler: ClassVar[Handler]

    async def execute(self, ctx: NodeContext) -> NodeResult | Wait:
        token = token_of(ctx)
        inputs = await Pins(ctx, token).resolve(self.pins, self.own_pins_only)
        state = State(token)
        result = await type(self).handler(ctx, inputs, state)
        if isinstance(result, Wait):
            return result
        out = result.out
        outs = dict(token["outs"])
        outs[ctx.node.id] = out
        if result.passthrough:
            done: Any = {"success": True, "result": state.last}
        elif isinstance(out, Mapping):
            done = {**out, "success": True}
        else:
            done = {"success": True, "result": out}
        successor = {
            "vars": state.vars,
            "last": state.last if result.passthrough else out,
            "outs": outs,
            "ctl": state.ctl,
            "done": done,
        }
        return NodeResult(outputs=successor, branch=result.branch, workflow_outputs=result.end)


class PureNode:
    """A VisualFlow pure node: computed from its pins whenever a consumer pulls it."""

    type: ClassVar[str]
    metadata: ClassVar[NodeMetadata]
    compute: ClassVar[Compute]
    # a pull may call ``compute`` directly (see ``_pulls``); a subclass with its own ``execute`` says no
    direct_pull: ClassVar[bool] = True

    async def execute(self, ctx: NodeContext) -> NodeResult:
        inputs = dict(ctx.inputs)
        variables = inputs.pop(VARS, None) or {}
        if ctx.data.get("config", {}).get("pinExpressions"):
            inputs = await apply_pin_expressions(ctx, inputs, variables)
        outputs = type(self).compute(inputs, ctx.data.get("config", {}), variables)
        return NodeResult(outputs=outputs)


def exec_type(
    name: str,
    handler: Handler,
    description: str,
    *,
    category: str,
    inputs: tuple[str, ...] = (),
    outputs: tuple[str, ...] = (EXEC_OUT,),
    own_pins_only: bool = False,
) -> ExecNode:
    meta = NodeMetadata(
        category=f"visual/{category}", description=description, inputs=("exec-in", *inputs), outputs=outputs
    )
    cls = type(
        f"Visual_{name}",
        (ExecNode,),
        {
            "type": IR_PREFIX + name,
            "metadata": meta,
            "pins": inputs,
            "own_pins_only": own_pins_only,
            "handler": staticmethod(handler),
            "__doc__": description,
        },
    )
    return cls()  # type: ignore[no-any-return]


def pure_type(
    name: str,
    compute: Compute,
    description: str,
    *,
    category: str,
    inputs: tuple[str, ...],
    outputs: tuple[str, ...],
) -> PureNode:
    meta = NodeMetadata(
        category=f"visual/{category}", description=description, inputs=inputs, outputs=outputs
    )
    cls = type(
        f"Visual_{name}",
        (PureNode,),
        {
            "type": IR_PREFIX + name,
            "metadata": meta,
            "compute": staticmethod(compute),
            "__doc__": description,
        },
    )
    return cls()  # type: ignore[no-any-return]
