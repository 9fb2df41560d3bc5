"""The ``code`` node: runs ``main({ params })`` of a JavaScript script (QuickJS, SPEC §A8, D2) or
``main(args)`` of a Python script (deviation D12) on the engine's workers, in their sandbox."""

from __future__ import annotations

from typing import Any, ClassVar

from flowloom.engine import ConfigKey, NodeContext, NodeError, NodeMetadata, NodeResult
from flowloom.ir import CodeLanguage, FlowgramNodeType, SandboxError
from flowloom.nodes._ports import DefaultOutputPort

_LANGUAGES = {language.value: language for language in CodeLanguage}


class CodeExecutor(DefaultOutputPort):
    """Runs a script's main(args): JavaScript in QuickJS, Python in a sandbox process."""

    type: ClassVar[str] = FlowgramNodeType.CODE
    metadata: ClassVar[NodeMetadata] = NodeMetadata(
        category="flowgram",
        description=(
            "Runs a script's main(params): JavaScript on QuickJS, or Python under RestrictedPython "
            "in a sandbox worker process, with time and memory limits."
        ),
        config=(
            ConfigKey(
                name="script",
                type="object",
                description="language (javascript or python) and content",
                required=True,
            ),
        ),
        inputs=("defaultInput",),
        outputs=("defaultOutput",),
    )

    async def execute(self, ctx: NodeContext) -> NodeResult:
        script = ctx.data.get("script")
        script = script if isinstance(script, dict) else {}
        language, content = script.get("language"), script.get("content")
        if not content:
            raise NodeError("Code content is required")
        known = _LANGUAGES.get(language) if isinstance(language, str) else None
        if known is None:
            raise NodeError(f'Unsupported code language "{language}"')
        try:
            result = await ctx.workers.run(known, content, ctx.inputs, ctx.services.code_limits)
        except SandboxError as exc:
            raise NodeError(f"Code execution failed: {exc}") from exc
        return NodeResult(outputs=as_outputs(result))


def as_outputs(result: Any) -> dict[str, Any]:
    """A plain object is the outputs; anything else is wrapped as ``{result: value}``."""
    return result if isinstance(result, dict) else {"result": result}
