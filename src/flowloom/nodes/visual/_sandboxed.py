"""Running a built script in the sandbox through the node's workers, and what every sandboxed VisualFlow
node shares: the per-node cache of built scripts, the error naming the node."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from flowloom.engine import NodeContext, NodeError
from flowloom.ir import CodeLanguage, SandboxError

from ._pulls import prepared_cell
from ._script import Script, script_error


def node_name(ctx: NodeContext) -> str:
    label = ctx.data.get("label")
    return f"'{ctx.node.id}' ({label})" if label and label != ctx.node.id else f"'{ctx.node.id}'"


def cached(ctx: NodeContext, key: str, build: Callable[[], Script]) -> Script:
    """The script ``key`` of this node, built on its first execution and kept with the plan."""
    scripts = prepared_cell(ctx)
    script = scripts.get(key)
    if script is None:
        script = scripts[key] = build()
    return cast(Script, script)


async def run_script(ctx: NodeContext, script: Script, params: Mapping[str, Any]) -> Any:
    """What ``main`` of ``script`` returned, run in the sandbox; its failure as a ``NodeError`` naming the
    node and the line of the user's code."""
    try:
        return await ctx.workers.run(CodeLanguage.PYTHON, script.source, params, ctx.services.code_limits)
    except SandboxError as exc:
        raise NodeError(f"Node {node_name(ctx)}: {script_error(str(exc), script)}") from None
