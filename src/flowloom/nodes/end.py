"""The ``end`` node: its inputs are the workflow's outputs."""

from __future__ import annotations

from typing import ClassVar

from flowloom.engine import NodeContext, NodeMetadata, NodeResult, Traits
from flowloom.ir import FlowgramNodeType


class EndExecutor:
    """The workflow's outputs: its inputs become the run's outputs."""

    type: ClassVar[str] = FlowgramNodeType.END
    metadata: ClassVar[NodeMetadata] = NodeMetadata(
        category="flowgram",
        description="Ends the workflow: its inputs become the run's outputs.",
        inputs=("defaultInput",),
        outputs=(),
    )
    # replayed: it sets the workflow's outputs, which live in memory
    traits: ClassVar[Traits] = Traits(terminal=True, lightweight=True, replayed=True)

    async def execute(self, ctx: NodeContext) -> NodeResult:
        return NodeResult(outputs=ctx.inputs, workflow_outputs=ctx.inputs)
