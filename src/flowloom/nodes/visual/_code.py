"""``code`` and ``function`` nodes: user Python run in the sandbox (see ``_script``). A code node's
``codeBody`` is the body of ``def transform(_input)`` with one local per input pin (or ``code`` defines
``functionName``); a function node evaluates ``expression`` over its pins, or calls ``transform`` (or
``functionName``) of its ``code``. A function node without execution pins is pure (pulled)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from flowloom.engine import NodeContext, NodeError, NodeMetadata, NodeResult
from flowloom.ir import Activation, Wait

from ._base import ExecNode, Outcome, State, exec_type
from ._flow import VARS
from ._pinexpr import apply_pin_expressions
from ._sandboxed import cached, node_name, run_script
from ._script import PRIVATE, Script, ScriptBuilder, local_names

_INPUT = PRIVATE + "_input"


def _entry(name: str) -> str:
    return PRIVATE + name if name.startswith("_") and not name.startswith("__") else name


def _build(ctx: NodeContext, pins: list[str]) -> Script:
    config = ctx.data.get("config", {})
    builder = ScriptBuilder(ctx.data.get("functions"))
    body, code = config.get("codeBody"), config.get("code")
    expression = config.get("expression")
    if isinstance(body, str) and body.strip():
        builder.plain(f"def transform({_INPUT}):")
        builder.plain(*(f"    {p} = {_INPUT}.get({p!r})" for p in local_names(pins)))
        builder.add(body, "codeBody", indent="    ")
        entry = "transform"
    elif isinstance(code, str) and code.strip():
        builder.add(code, "code")
        entry = _entry(str(config.get("functionName") or "transform"))
    elif isinstance(expression, str) and expression.strip():
        builder.plain(f"def vf_expression({_INPUT}):")
        builder.plain(*(f"    {p} = {_INPUT}.get({p!r})" for p in local_names(pins)))
        builder.plain("    return (")
        builder.add(expression.strip(), "expression")
        builder.plain("    )")
        entry = "vf_expression"
    else:
        raise NodeError(f"Node {node_name(ctx)}: no code to run (codeBody, code or expression)")
    builder.plain(
        "def main(args):",
        f"    return vf_result({entry}(args['params']['input']))",
    )
    return builder.build()


async def _call(ctx: NodeContext, inputs: dict[str, Any]) -> Any:
    """What the node's code returned for ``inputs``."""
    pins = list(ctx.data.get("inputs") or inputs)
    script = cached(ctx, "code", lambda: _build(ctx, pins))
    reply = await run_script(ctx, script, {"input": inputs})
    if "bad_json" in reply:
        raise NodeError(
            f"Node {node_name(ctx)}: transform returned a value that cannot be sent as JSON: "
            f"{reply['bad_json']}. Return data: str, int, float, bool, None, lists and dicts of those."
        )
    return reply["value"]


async def code(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome:
    result = await _call(ctx, inputs)
    out: dict[str, Any] = dict(result) if isinstance(result, Mapping) else {}
    out.update(output=result, result=result, success=True, execution={"sandbox": "restricted-python"})
    return Outcome(out)


async def function(ctx: NodeContext, inputs: dict[str, Any], state: State) -> Outcome:
    return Outcome(_as_outputs(await _call(ctx, inputs)))


def _as_outputs(result: Any) -> Any:
    return dict(result) if isinstance(result, Mapping) else {"result": result}


class FunctionNode(ExecNode):
    """``function``: an exec node when it has execution pins, else pulled by its consumers."""

    type: ClassVar[str] = "vf.function"
    metadata: ClassVar[NodeMetadata] = NodeMetadata(
        category="visual/code",
        description="Evaluates a Python expression, or calls a function of its code, in the sandbox.",
        inputs=("exec-in",),
        outputs=("exec-out",),
    )

    async def execute(self, ctx: NodeContext) -> NodeResult | Wait:
        if ctx.node.activation is Activation.PULL:
            inputs = dict(ctx.inputs)
            variables = inputs.pop(VARS, None) or {}
            if ctx.data.get("config", {}).get("pinExpressions"):
                inputs = await apply_pin_expressions(ctx, inputs, variables)
            return NodeResult(outputs=_as_outputs(await _call(ctx, inputs)))
        return await super().execute(ctx)

    handler = staticmethod(function)  # type: ignore[assignment]  # (mypy reads the ClassVar as a method)


def code_types() -> list[ExecNode]:
    return [
        exec_type(
            "code",
            code,
            "Runs Python (codeBody, or code + functionName) in the sandbox; returns its keys, output, "
            "result, success and execution.",
            category="code",
            outputs=("exec-out", "output", "result", "success", "execution"),
        ),
        FunctionNode(),
    ]
