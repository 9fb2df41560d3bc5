"""Loop body markers: ``block-start``, ``block-end``, ``break`` and ``continue``."""

from __future__ import annotations

from typing import ClassVar

from flowloom.engine import NodeContext, NodeResult
from flowloom.ir import FlowgramNodeType

BREAK_SIGNAL = "loop-break"
CONTINUE_SIGNAL = "loop-continue"

_EMPTY = NodeResult()


class BlockStartExecutor:
    """The entry of a loop body: where each iteration starts."""

    type: ClassVar[str] = FlowgramNodeType.BLOCK_START
    entry: ClassVar[bool] = True
    lightweight: ClassVar[bool] = True

    async def execute(self, ctx: NodeContext) -> NodeResult:
        return _EMPTY


class BlockEndExecutor:
    """The exit of a loop body: where each iteration ends."""

    type: ClassVar[str] = FlowgramNodeType.BLOCK_END
    terminal: ClassVar[bool] = True
    lightweight: ClassVar[bool] = True

    async def execute(self, ctx: NodeContext) -> NodeResult:
        return _EMPTY


class BreakExecutor:
    """Ends the loop after this iteration; the iteration's outputs are not collected."""

    type: ClassVar[str] = FlowgramNodeType.BREAK
    terminal: ClassVar[bool] = True
    lightweight: ClassVar[bool] = True
    replayed: ClassVar[bool] = True  # its signal lives in the iteration's scope

    async def execute(self, ctx: NodeContext) -> NodeResult:
        ctx.signal(BREAK_SIGNAL)
        return _EMPTY


class ContinueExecutor:
    """Skips collecting this iteration's outputs."""

    type: ClassVar[str] = FlowgramNodeType.CONTINUE
    terminal: ClassVar[bool] = True
    lightweight: ClassVar[bool] = True
    replayed: ClassVar[bool] = True  # its signal lives in the iteration's scope

    async def execute(self, ctx: NodeContext) -> NodeResult:
        ctx.signal(CONTINUE_SIGNAL)
        return _EMPTY
