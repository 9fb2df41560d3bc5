"""``debug.log``: passes ``message`` through unchanged (F13) and logs its text as NodeLog lines."""

from __future__ import annotations

from typing import ClassVar

from flowloom.engine import NodeContext, NodeMetadata, NodeResult, Traits

from .._kit import KitNode, inputs_of, metadata, text_of

NO_MESSAGE = "(no message)"


class DebugLogExecutor(KitNode):
    type: ClassVar[str] = "debug.log"
    traits: ClassVar[Traits] = Traits(entry=True, terminal=True, lightweight=True)
    metadata: ClassVar[NodeMetadata] = metadata(
        category="debug",
        description="Log the message input (as NodeLog lines) and pass it through.",
        keys=(),
        inputs=("message",),
        outputs=("message",),
    )

    async def execute(self, ctx: NodeContext) -> NodeResult:
        message = inputs_of(ctx).get("message", NO_MESSAGE)
        if message is None:
            message = NO_MESSAGE
        for line in text_of(message).split("\n"):
            ctx.log(line)
        return NodeResult({"message": message})
