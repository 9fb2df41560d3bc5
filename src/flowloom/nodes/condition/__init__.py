"""The ``condition`` node: the first condition (in list order) that holds chooses the branch, else
``else``. Semantics: SPEC §A6, with deviation D1."""

from __future__ import annotations

from typing import Any, ClassVar

from flowloom.engine import (
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
    same_type,
)
from flowloom.ir import ELSE_BRANCH, FlowgramNodeType, JsonSchema, Node, VariableType

from ._rules import HANDLERS, RIGHT_OPERAND_IGNORED, RULES, Operator

_NO_OPERAND = TypedValue(None, VariableType.NULL)


class _Condition:
    """One compiled condition. The right operand is typed by the left operand's runtime type, so it is
    compiled per expected type on first use."""

    __slots__ = ("_right", "_rights", "key", "left", "op", "operator")

    def __init__(self, raw: Any) -> None:
        raw = raw if isinstance(raw, dict) else {}
        value = raw.get("value") if isinstance(raw.get("value"), dict) else {}
        self.key: str | None = raw.get("key")
        self.left = compile_strict_ref(value.get("left"))
        self.operator = value.get("operator")
        self.op = _operator(self.operator)
        self._right = value.get("right")
        self._rights: dict[VariableType, Resolver] = {}

    def right(self, expected: VariableType) -> Resolver | None:
        if self._right is None:
            return None
        resolver = self._rights.get(expected)
        if resolver is None:
            resolver = self._rights[expected] = compile_flow_value(self._right, JsonSchema(type=expected))
        return resolver


def _operator(raw: Any) -> Operator | None:
    try:
        return Operator(str(raw))
    except ValueError:
        return None


def _compile(node: Node) -> list[_Condition] | None:
    conditions = node.data.get("conditions")
    return [_Condition(c) for c in conditions] if isinstance(conditions, list) else None


class ConditionExecutor:
    """Takes the branch of the first condition that holds, else the else branch."""

    type: ClassVar[str] = FlowgramNodeType.CONDITION
    metadata: ClassVar[NodeMetadata] = NodeMetadata(
        category="flowgram",
        description='Takes the branch of the first condition that holds (14 operators), else "else".',
        config=(
            ConfigKey(
                name="conditions",
                type="array",
                description="key and value {left, operator, right} of each branch",
                required=True,
            ),
        ),
        inputs=("defaultInput",),
        outputs=("<condition key>", "else"),
    )
    traits: ClassVar[Traits] = Traits(lightweight=True)

    def output_ports(self, node: Node) -> list[str]:
        """One port per condition key, and ``else``."""
        conditions = _compile(node) or []
        return [*(c.key for c in conditions if isinstance(c.key, str)), ELSE_BRANCH]

    async def execute(self, ctx: NodeContext) -> NodeResult:
        conditions = ctx.prepared(_compile)
        if conditions is None:
            return NodeResult(branch=None)  # no conditions at all: every next node runs
        for condition in conditions:
            if _holds(ctx, condition):
                return NodeResult(branch=condition.key)
        return NodeResult(branch=ELSE_BRANCH)


def _holds(ctx: NodeContext, condition: _Condition) -> bool:
    left = ctx.resolve(condition.left)
    left_type = left.type if left.value is not None else VariableType.NULL
    rules = RULES.get(left_type, {})
    op = condition.op
    if op is None or op not in rules:
        raise NodeError(f'Condition left type "{left_type}" has no operator "{condition.operator}"')
    expected = rules[op]
    right = _NO_OPERAND
    if op not in RIGHT_OPERAND_IGNORED:
        resolver = condition.right(expected)
        right = ctx.resolve(resolver) if resolver is not None else _NO_OPERAND
        right_type = right.type if right.value is not None else VariableType.NULL
        if not same_type(right_type, expected):
            return False  # upstream skips a condition whose right operand has the wrong type
    return HANDLERS[op](left.value, right.value, left_type)
