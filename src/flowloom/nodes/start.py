"""The ``start`` node: the workflow's inputs become its outputs (declared ones as variables)."""

from __future__ import annotations

from typing import ClassVar

from flowloom.engine import NodeContext, NodeMetadata, NodeResult, Traits
from flowloom.ir import FlowgramNodeType
from flowloom.nodes._ports import DefaultOutputPort


class StartExecutor(DefaultOutputPort):
    """The workflow's inputs, checked against its outputs schema."""

    type: ClassVar[str] = FlowgramNodeType.START
    metadata: ClassVar[NodeMetadata] = NodeMetadata(
        category="flowgram",
        description=(
            "Starts the workflow: its outputs are the run's inputs, checked against its outputs schema."
        ),
        inputs=(),
        outputs=("defaultOutput",),
    )
    traits: ClassVar[Traits] = Traits(entry=True, lightweight=True)

    async def execute(self, ctx: NodeContext) -> NodeResult:
        return NodeResult(outputs=ctx.run_inputs)
