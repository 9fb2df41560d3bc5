"""The ``start`` node: the workflow's inputs become its outputs (declared ones as variables)."""

from __future__ import annotations

from typing import ClassVar

from flowloom.engine import NodeContext, NodeResult
from flowloom.ir import FlowgramNodeType


class StartExecutor:
    """The workflow's inputs, checked against its outputs schema."""

    type: ClassVar[str] = FlowgramNodeType.START
    entry: ClassVar[bool] = True
    lightweight: ClassVar[bool] = True

    async def execute(self, ctx: NodeContext) -> NodeResult:
        return NodeResult(outputs=ctx.run_inputs)
