"""``transform.json_parse`` and ``transform.json_stringify`` (plain JSON, F12)."""

from __future__ import annotations

import json
from typing import ClassVar

from flowloom.engine import NodeContext, NodeMetadata, NodeResult, Traits

from .._kit import KitNode, failed, inputs_of, metadata, missing_input, wrong_input


class JsonParseExecutor(KitNode):
    type: ClassVar[str] = "transform.json_parse"
    traits: ClassVar[Traits] = Traits(entry=True, terminal=True, lightweight=True)
    metadata: ClassVar[NodeMetadata] = metadata(
        category="transform",
        description="Parse the json input (a string).",
        keys=(),
        inputs=("json",),
        outputs=("parsed",),
    )

    async def execute(self, ctx: NodeContext) -> NodeResult:
        inputs = inputs_of(ctx)
        if "json" not in inputs:
            raise missing_input("json")
        text = inputs["json"]
        if not isinstance(text, str):
            raise wrong_input("json", "string", text)
        try:
            return NodeResult({"parsed": json.loads(text)})
        except ValueError as exc:
            raise failed(f"JSON parse error: {exc}") from exc


class JsonStringifyExecutor(KitNode):
    type: ClassVar[str] = "transform.json_stringify"
    traits: ClassVar[Traits] = Traits(entry=True, terminal=True, lightweight=True)
    metadata: ClassVar[NodeMetadata] = metadata(
        category="transform",
        description="Write the value input as JSON text, indented by 2 spaces.",
        keys=(),
        inputs=("value",),
        outputs=("json",),
    )

    async def execute(self, ctx: NodeContext) -> NodeResult:
        inputs = inputs_of(ctx)
        if "value" not in inputs:
            raise missing_input("value")
        return NodeResult({"json": json.dumps(inputs["value"], indent=2, ensure_ascii=False)})
