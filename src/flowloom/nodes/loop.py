"""The ``loop`` node: runs its block once per item of ``loopFor``, sequentially, and collects
``loopOutputs`` per iteration (SPEC §A7, deviation D11)."""

from __future__ import annotations

from typing import Any, ClassVar

from flowloom.engine import (
    BlockFailed,
    ConfigKey,
    NodeContext,
    NodeError,
    NodeMetadata,
    NodeResult,
    Resolver,
    Traits,
    TypedValue,
    compile_flow_value,
    compile_strict_ref,
    infer_type,
)
from flowloom.ir import FlowgramNodeType, Node, VariableType
from flowloom.nodes._ports import DefaultOutputPort

from .blocks import BREAK_SIGNAL, CONTINUE_SIGNAL


class _LoopSpec:
    __slots__ = ("loop_for", "outputs")

    def __init__(self, node: Node) -> None:
        raw_for = node.data.get("loopFor")
        self.loop_for: Resolver | None = compile_strict_ref(raw_for) if raw_for is not None else None
        raw_outputs = node.data.get("loopOutputs")
        self.outputs: dict[str, Resolver] = (
            {name: compile_flow_value(value) for name, value in raw_outputs.items()}
            if isinstance(raw_outputs, dict)
            else {}
        )


class LoopExecutor(DefaultOutputPort):
    """Runs its body once per item of an array (loopFor), collecting loopOutputs."""

    type: ClassVar[str] = FlowgramNodeType.LOOP
    metadata: ClassVar[NodeMetadata] = NodeMetadata(
        category="flowgram",
        description=(
            "Runs its block once per item of loopFor, with <id>_locals.item and .index; collects "
            "loopOutputs into arrays."
        ),
        config=(
            ConfigKey(
                name="loopFor", type="object", description="the array to iterate (a ref)", required=True
            ),
            ConfigKey(
                name="loopOutputs",
                type="object",
                description="values collected from each iteration",
                required=False,
                default={},
            ),
        ),
        inputs=("defaultInput",),
        outputs=("defaultOutput",),
    )
    traits: ClassVar[Traits] = Traits(lightweight=True)  # holds no slot itself: its body's nodes take theirs

    async def execute(self, ctx: NodeContext) -> NodeResult:
        spec = ctx.prepared(_LoopSpec)
        items = self._items(ctx, spec)
        collected: dict[str, list[Any]] = {name: [] for name in spec.outputs}
        types: dict[str, VariableType | None] = dict.fromkeys(spec.outputs)
        for index, item in enumerate(items.value):
            try:
                iteration = await ctx.run_block(
                    index,
                    {
                        "item": TypedValue(item, items.items_type or infer_type(item)),
                        "index": TypedValue(index, VariableType.NUMBER),
                    },
                )
            except BlockFailed as exc:
                raise NodeError(f"Loop block execute error: {exc}") from exc
            if BREAK_SIGNAL in iteration.signals:
                break
            if CONTINUE_SIGNAL in iteration.signals:
                continue
            for name, resolver in spec.outputs.items():
                value = iteration.resolve(resolver)
                _check_items_type(types, name, value)
                collected[name].append(None if value.value is None else value.value)
        for name, values in collected.items():
            ctx.set_variable(name, TypedValue(values, VariableType.ARRAY, types[name]))
        return NodeResult(outputs=collected)

    @staticmethod
    def _items(ctx: NodeContext, spec: _LoopSpec) -> TypedValue:
        if spec.loop_for is None:
            raise NodeError('Loop "loopFor" is required')
        items = ctx.resolve(spec.loop_for)
        if items.value is None or items.type != VariableType.ARRAY:
            raise NodeError('Loop "loopFor" is required')
        if not isinstance(items.value, list):
            raise NodeError('Loop "loopFor" must be an array')
        if items.items_type is None:
            raise NodeError('Loop "loopFor.items" must be array items')
        return items


def _check_items_type(types: dict[str, VariableType | None], name: str, value: TypedValue) -> None:
    if value.value is None:
        return
    seen = types[name]
    if seen is None:
        types[name] = value.type
    elif seen != value.type:
        raise NodeError(f"Array items type must be same, expect {seen}, but got {value.type}")
