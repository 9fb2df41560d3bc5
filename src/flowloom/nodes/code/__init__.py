"""The ``code`` node: runs ``main({ params })`` of a JavaScript script (QuickJS, SPEC §A8, D2) or
``main(args)`` of a Python script (deviation D12) in the engine's sandbox."""

from __future__ import annotations

from typing import Any, ClassVar

from flowloom.engine import NodeContext, NodeError, NodeResult
from flowloom.ir import FlowgramNodeType, SandboxError

JAVASCRIPT = "javascript"
PYTHON = "python"


class CodeExecutor:
    """Runs a script's main(args): JavaScript in QuickJS, Python in a sandbox process."""

    type: ClassVar[str] = FlowgramNodeType.CODE

    async def execute(self, ctx: NodeContext) -> NodeResult:
        script = ctx.data.get("script")
        script = script if isinstance(script, dict) else {}
        language, content = script.get("language"), script.get("content")
        if not content:
            raise NodeError("Code content is required")
        if language not in (JAVASCRIPT, PYTHON):
            raise NodeError(f'Unsupported code language "{language}"')
        if ctx.services.sandbox is None:
            raise NodeError("code nodes need a sandbox: this engine has none configured")
        sandbox = ctx.services.sandbox.get()
        limits = ctx.services.code_limits
        try:
            if language == JAVASCRIPT:
                result = await sandbox.run_javascript(content, ctx.inputs, limits)
            else:
                result = await sandbox.run(
                    content,
                    ctx.inputs,
                    time_limit_s=limits.time_limit_s,
                    memory_bytes=limits.python_memory_bytes,
                )
        except SandboxError as exc:
            raise NodeError(f"Code execution failed: {exc}") from exc
        return NodeResult(outputs=as_outputs(result))


def as_outputs(result: Any) -> dict[str, Any]:
    """A plain object is the outputs; anything else is wrapped as ``{result: value}``."""
    return result if isinstance(result, dict) else {"result": result}
