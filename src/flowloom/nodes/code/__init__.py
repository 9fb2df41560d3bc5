"""The ``code`` node: runs ``main({ params })`` of a JavaScript script on QuickJS (SPEC §A8, D2), or
``main(args)`` of a Python script in the engine's sandbox (deviation D12)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import anyio

from flowloom.engine import CodeLimits, NodeContext, NodeError, NodeResult
from flowloom.ir import FlowgramNodeType, SandboxError

from ._javascript import JavaScriptError, JavaScriptLimits, JavaScriptTimeout, run_javascript

JAVASCRIPT = "javascript"
PYTHON = "python"


class CodeExecutor:
    type: ClassVar[str] = FlowgramNodeType.CODE

    async def execute(self, ctx: NodeContext) -> NodeResult:
        script = ctx.data.get("script")
        script = script if isinstance(script, dict) else {}
        language, content = script.get("language"), script.get("content")
        if not content:
            raise NodeError("Code content is required")
        limits = ctx.services.code_limits
        try:
            if language == JAVASCRIPT:
                result = await _javascript(content, ctx.inputs, limits)
            elif language == PYTHON:
                result = await _python(ctx, content, limits)
            else:
                raise NodeError(f'Unsupported code language "{language}"')
        except (JavaScriptError, SandboxError) as exc:
            raise NodeError(f"Code execution failed: {exc}") from exc
        return NodeResult(outputs=as_outputs(result))


async def _python(ctx: NodeContext, source: str, limits: CodeLimits) -> Any:
    if ctx.services.python is None:
        raise NodeError("Python code nodes need a sandbox: this engine has none configured")
    sandbox = ctx.services.python.get()
    return await sandbox.run(
        source, ctx.inputs, time_limit_s=limits.time_limit_s, memory_bytes=limits.python_memory_bytes
    )


async def _javascript(content: str, params: dict[str, Any], limits: CodeLimits) -> Any:
    full = JavaScriptLimits(
        memory_bytes=limits.memory_bytes, stack_bytes=limits.stack_bytes, time_limit_s=limits.time_limit_s
    )
    if 0 < limits.inline_budget_s < limits.time_limit_s:
        try:
            return run_javascript(content, params, replace(full, time_limit_s=limits.inline_budget_s))
        except JavaScriptTimeout:
            pass  # a longer script: start again in a worker thread with the whole time limit
    # abandon_on_cancel: a canceled run does not wait for the script. QuickJS cannot be interrupted from
    # outside, so the abandoned thread runs on until the time limit; with no host access, it only burns CPU.
    return await anyio.to_thread.run_sync(run_javascript, content, params, full, abandon_on_cancel=True)


def as_outputs(result: Any) -> dict[str, Any]:
    """A plain object is the outputs; anything else is wrapped as ``{result: value}``."""
    return result if isinstance(result, dict) else {"result": result}
