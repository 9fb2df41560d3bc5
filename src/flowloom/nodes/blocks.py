"""Loop body markers: ``block-start``, ``block-end``, ``break`` and ``continue``."""

from __future__ import annotations

from typing import ClassVar

from flowloom.engine import NodeContext, NodeMetadata, NodeResult, Traits
from flowloom.ir import FlowgramNodeType
from flowloom.nodes._ports import DefaultOutputPort

BREAK_SIGNAL = "loop-break"
CONTINUE_SIGNAL = "loop-continue"

_EMPTY = NodeResult()


class BlockStartExecutor(DefaultOutputPort):
    """The entry of a loop body: where each iteration starts."""

    type: ClassVar[str] = FlowgramNodeType.BLOCK_START
    metadata: ClassVar[NodeMetadata] = NodeMetadata(
        category="flowgram",
        description="Where a loop's block starts, once per iteration.",
        inputs=(),
        outputs=("defaultOutput",),
    )
    traits: ClassVar[Traits] = Traits(entry=True, lightweight=True)

    async def execute(self, ctx: NodeContext) -> NodeResult:
        return _EMPTY


class BlockEndExecutor:
    """The exit of a loop body: where each iteration ends."""

    type: ClassVar[str] = FlowgramNodeType.BLOCK_END
    metadata: ClassVar[NodeMetadata] = NodeMetadata(
        category="flowgram",
        description="Where a loop's block ends.",
        inputs=("defaultInput",),
        outputs=(),
    )
    traits: ClassVar[Traits] = Traits(terminal=True, lightweight=True)

    async def execute(self, ctx: NodeContext) -> NodeResult:
        return _EMPTY


class BreakExecutor:
    """Ends the loop after this iteration; the iteration's outputs are not collected."""

    type: ClassVar[str] = FlowgramNodeType.BREAK
    metadata: ClassVar[NodeMetadata] = NodeMetadata(
        category="flowgram",
        description="Ends the enclosing loop after this iteration.",
        inputs=("defaultInput",),
        outputs=(),
    )
    # replayed: its signal lives in the iteration's scope
    traits: ClassVar[Traits] = Traits(terminal=True, lightweight=True, replayed=True)

    async def execute(self, ctx: NodeContext) -> NodeResult:
        ctx.signal(BREAK_SIGNAL)
        return _EMPTY


class ContinueExecutor:
    """Skips collecting this iteration's outputs."""

    type: ClassVar[str] = FlowgramNodeType.CONTINUE
    metadata: ClassVar[NodeMetadata] = NodeMetadata(
        category="flowgram",
        description="Ends this iteration of the enclosing loop; the next one starts.",
        inputs=("defaultInput",),
        outputs=(),
    )
    # replayed: its signal lives in the iteration's scope
    traits: ClassVar[Traits] = Traits(terminal=True, lightweight=True, replayed=True)

    async def execute(self, ctx: NodeContext) -> NodeResult:
        ctx.signal(CONTINUE_SIGNAL)
        return _EMPTY
