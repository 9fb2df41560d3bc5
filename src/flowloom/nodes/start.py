"""The ``start`` node: the workflow's inputs become its outputs (declared ones as variables)."""

from __future__ import annotations

from typing import ClassVar

from flowloom.engine import NodeContext, NodeResult, Traits
from flowloom.ir import FlowgramNodeType
from flowloom.nodes._ports import DefaultOutputPort


class StartExecutor(DefaultOutputPort):
    type: ClassVar[str] = FlowgramNodeType.START
    traits: ClassVar[Traits] = Traits(entry=True, lightweight=True)

    async def execute(self, ctx: NodeContext) -> NodeResult:
        return NodeResult(outputs=ctx.run_inputs)
