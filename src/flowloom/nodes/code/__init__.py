"""The ``code`` node: runs ``main({ params })`` of a JavaScript script on QuickJS (SPEC §A8, D2)."""

from __future__ import annotations

from typing import Any, ClassVar

import anyio

from flowloom.engine import NodeContext, NodeError, NodeResult
from flowloom.ir import FlowgramNodeType

from ._javascript import JavaScriptError, JavaScriptLimits, run_javascript

JAVASCRIPT = "javascript"


class CodeExecutor:
    type: ClassVar[str] = FlowgramNodeType.CODE

    async def execute(self, ctx: NodeContext) -> NodeResult:
        script = ctx.data.get("script")
        script = script if isinstance(script, dict) else {}
        language, content = script.get("language"), script.get("content")
        if not content:
            raise NodeError("Code content is required")
        if language != JAVASCRIPT:
            raise NodeError(f'Unsupported code language "{language}"')
        limits = ctx.services.code_limits
        js_limits = JavaScriptLimits(
            memory_bytes=limits.memory_bytes, stack_bytes=limits.stack_bytes, time_limit_s=limits.time_limit_s
        )
        try:
            # abandon_on_cancel: a canceled run does not wait for the script. QuickJS cannot be interrupted
            # from outside, so the abandoned thread runs on until the script's time limit; the script has
            # no host access, so nothing but CPU is spent.
            result = await anyio.to_thread.run_sync(
                run_javascript, content, ctx.inputs, js_limits, abandon_on_cancel=True
            )
        except JavaScriptError as exc:
            raise NodeError(f"Code execution failed: {exc}") from exc
        return NodeResult(outputs=as_outputs(result))


def as_outputs(result: Any) -> dict[str, Any]:
    """A plain object is the outputs; anything else is wrapped as ``{result: value}``."""
    return result if isinstance(result, dict) else {"result": result}
