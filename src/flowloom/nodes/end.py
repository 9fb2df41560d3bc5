"""The ``end`` node: its inputs are the workflow's outputs."""

from __future__ import annotations

from typing import ClassVar

from flowloom.engine import NodeContext, NodeResult
from flowloom.ir import FlowgramNodeType


class EndExecutor:
    """The workflow's outputs: its inputs become the run's outputs."""

    type: ClassVar[str] = FlowgramNodeType.END
    terminal: ClassVar[bool] = True
    lightweight: ClassVar[bool] = True
    replayed: ClassVar[bool] = True  # sets the workflow's outputs

    async def execute(self, ctx: NodeContext) -> NodeResult:
        return NodeResult(outputs=ctx.inputs, workflow_outputs=ctx.inputs)
