"""``time.delay``: waits ``delay_ms``, then passes every input through under its port name."""

from __future__ import annotations

from typing import ClassVar

import anyio

from flowloom.engine import NodeContext, NodeMetadata, NodeResult

from .._kit import Key, KitNode, inputs_of, metadata

_KEYS = (Key(name="delay_ms", types=("number",), default=1000, description="milliseconds to wait"),)


class DelayExecutor(KitNode):
    type: ClassVar[str] = "time.delay"
    keys: ClassVar[tuple[Key, ...]] = _KEYS
    metadata: ClassVar[NodeMetadata] = metadata(
        category="time",
        description="Wait delay_ms, then pass every input through.",
        keys=_KEYS,
        inputs=("*",),
        outputs=("*",),
    )

    async def execute(self, ctx: NodeContext) -> NodeResult:
        inputs = inputs_of(ctx)
        await anyio.sleep(max(float(self.config(ctx)["delay_ms"]), 0.0) / 1000)
        return NodeResult(inputs)
