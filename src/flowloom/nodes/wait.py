"""The ``wait`` node: the run waits for an answer from outside (a person's approval, a system's reply) or
for a time, and goes on with the answer as the node's outputs.

data: ``prompt`` (text; ``{{node.key}}`` templates as in any flowgram template), ``choices`` (a list shown
to whoever answers), ``untilS`` (seconds since the epoch) or ``durationS`` (seconds from the first time the
node waits) for a wait that answers itself when due, with ``{"timedOut": true}``; ``key`` names the wait
(default: the node id). Outputs: the answer's payload when it is a JSON object, else ``{"value": payload}``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

from flowloom.engine import (
    ConfigKey,
    NodeContext,
    NodeError,
    NodeMetadata,
    NodeResult,
    Resolver,
    compile_flow_value,
)
from flowloom.ir import Node, Wait, WaitReason


@dataclass(frozen=True, slots=True)
class _WaitSpec:
    key: str | None
    prompt: Resolver | None
    choices: list[Any] | None
    until_s: float | None
    duration_s: float | None

    @classmethod
    def from_node(cls, node: Node) -> _WaitSpec:
        data = node.data
        key, prompt, choices = data.get("key"), data.get("prompt"), data.get("choices")
        if key is not None and (not isinstance(key, str) or not key):
            raise NodeError(f'Wait node "{node.id}": "key" must be a non-empty string, got {key!r}')
        if prompt is not None and not isinstance(prompt, str):
            raise NodeError(f'Wait node "{node.id}": "prompt" must be text, got {type(prompt).__name__}')
        if choices is not None and not isinstance(choices, list):
            raise NodeError(f'Wait node "{node.id}": "choices" must be a list, got {type(choices).__name__}')
        until_s, duration_s = _seconds(node, "untilS"), _seconds(node, "durationS")
        if until_s is not None and duration_s is not None:
            raise NodeError(f'Wait node "{node.id}": give "untilS" or "durationS", not both')
        return cls(
            key=key,
            prompt=compile_flow_value({"type": "template", "content": prompt}) if prompt else None,
            choices=choices,
            until_s=until_s,
            duration_s=duration_s,
        )


def _seconds(node: Node, field: str) -> float | None:
    value = node.data.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise NodeError(f'Wait node "{node.id}": "{field}" must be a number of seconds >= 0, got {value!r}')
    return float(value)


class WaitExecutor:
    """Waits for an answer (resume with a payload) or a time; its outputs are the answer's payload."""

    type: ClassVar[str] = "wait"
    metadata: ClassVar[NodeMetadata] = NodeMetadata(
        category="flowgram",
        description=(
            "Waits for an answer (a person, a time, an event): prompt (templates allowed), "
            "choices, untilS or durationS; its outputs are the answer's payload."
        ),
        config=(
            ConfigKey(name="prompt", type="string", description="what to ask", required=False, default=None),
            ConfigKey(
                name="choices", type="array", description="the answers offered", required=False, default=None
            ),
            ConfigKey(
                name="untilS",
                type="number",
                description="epoch seconds to stop waiting at",
                required=False,
                default=None,
            ),
            ConfigKey(
                name="durationS", type="number", description="seconds to wait", required=False, default=None
            ),
        ),
        inputs=("defaultInput",),
        outputs=("defaultOutput",),
    )
    lightweight: ClassVar[bool] = True

    async def execute(self, ctx: NodeContext) -> NodeResult | Wait:
        answers = ctx.answers
        if answers:  # one wait per execution: its answer
            payload = next(iter(answers.values()))
            return NodeResult(outputs=payload if isinstance(payload, dict) else {"value": payload})
        spec = ctx.prepared(_WaitSpec.from_node)
        prompt = ctx.resolve(spec.prompt).value if spec.prompt is not None else None
        until = spec.until_s if spec.duration_s is None else time.time() + spec.duration_s
        timer_only = prompt is None and spec.choices is None and until is not None
        return Wait(
            key=spec.key,
            reason=WaitReason.TIME if timer_only else WaitReason.INPUT,
            prompt=prompt if isinstance(prompt, str) or prompt is None else str(prompt),
            choices=spec.choices,
            until=until,
        )
