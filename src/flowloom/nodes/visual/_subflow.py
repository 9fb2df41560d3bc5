"""``subflow``: runs another flow (``data.subflowId``) as a child run of this one, driven by the engine
(``ctx.services.children``, see ``flowloom.engine.ChildRuns``). The child's inputs are the node's input
pins, an ``input``/``vars`` object pin spread in; its output is the node's ``output`` and its keys the
node's other pins. A child that waits makes this node wait with the child's wait (so the root run reports
the innermost wait); the answer comes back to this node, which hands it to the child. A failed child fails
the node: ``Subworkflow '<id>' failed: <the child's error>``."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from flowloom.engine import NodeContext, NodeError
from flowloom.ir import Status, Wait

from ._base import ExecNode, Outcome, State, exec_type

_SPREAD = ("input", "vars")
_NOT_INPUTS = frozenset({"inherit_context", *_SPREAD})
_LIBRARY = "subflows"
CHILD_RUN_ID = "child_run_id"  # the key flowloom.engine's child runs look for in a parent's wait


def child_run_id(ctx: NodeContext) -> str:
    """The same for every execution of this node at this place in the run, so a node run again after a
    resume or a crash finds the child it started."""
    path = "/".join(map(str, ctx.scope_path))
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"flowloom:child:{ctx.run_id}:{ctx.node.id}:{path}"))


def _document(ctx: NodeContext, flow_id: str) -> Mapping[str, Any] | None:
    library = ctx.data.get(_LIBRARY)
    if isinstance(library, Mapping) and isinstance(library.get(flow_id), Mapping):
        return {**library[flow_id], _LIBRARY: library}
    source = ctx.services.subflows
    return source.subflow(flow_id) if source is not None else None


def _child_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    values = {pin: value for pin, value in inputs.items() if pin not in _NOT_INPUTS}
    for pin in _SPREAD:
        spread = inputs.get(pin)
        if isinstance(spread, Mapping):
            values.update(spread)
    return values


async def subflow(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome | Wait:
    config = ctx.data.get("config", {})
    flow_id = config.get("subflowId") or config.get("flowId")
    if not isinstance(flow_id, str) or not flow_id:
        raise NodeError(f"Subflow node '{ctx.node.id}' names no flow (data.subflowId)")
    document = _document(ctx, flow_id)
    if document is None:
        raise NodeError(
            f"Subworkflow '{flow_id}' not found: node '{ctx.node.id}' names a flow that is neither next to "
            "its flow nor in the engine's subflow source"
        )
    children = ctx.services.children
    if children is None:
        raise NodeError(f"Subflow node '{ctx.node.id}' needs an engine that runs child runs")
    child = await children.run_child(
        ctx.run_id,
        child_run_id(ctx),
        document,
        _child_inputs(inputs),
        ctx.answers,
        format="visualflow",
        metadata={"subflow": flow_id, "parent_node": ctx.node.id},
    )
    if child.status is Status.SUCCEEDED:
        output = child.outputs
        return Outcome(
            output if isinstance(output, Mapping) else {"output": output}
        )  # the "output" pin reads it whole
    if child.status is Status.WAITING and child.waits:
        wait = child.waits[0]
        return Wait(
            key=wait.key,
            reason=wait.reason,
            prompt=wait.prompt,
            choices=wait.choices,
            until=wait.until,
            details={**wait.details, CHILD_RUN_ID: child.run_id},
        )
    raise NodeError(f"Subworkflow '{flow_id}' failed: {child.error or child.status}")


def subflow_types() -> list[ExecNode]:
    return [
        exec_type(
            "subflow",
            subflow,
            "Runs another flow as a child run and outputs its output.",
            category="effects",
            inputs=("inherit_context", "input"),
            outputs=("exec-out", "output"),
        )
    ]
