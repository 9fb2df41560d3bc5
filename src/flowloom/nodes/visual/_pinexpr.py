"""Pin expressions (``data.pinExpressions``: ``{pin: "python expression"}``): applied over a node's resolved
pins, each with ``value`` (what the wire, default or pipeline gave the pin) and ``vars`` (the run variables,
read-only, by attribute: ``vars.count``), in the sandbox, with the flow's function library in scope. All of
a node's expressions are one sandbox call."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from flowloom.engine import NodeContext, NodeError

from ._sandboxed import cached, run_script
from ._script import Script, ScriptBuilder


def expressions_of(ctx: NodeContext) -> dict[str, str]:
    raw = ctx.data.get("config", {}).get("pinExpressions")
    if not isinstance(raw, Mapping):
        return {}
    return {str(pin): text for pin, text in raw.items() if isinstance(text, str) and text.strip()}


async def apply_pin_expressions(
    ctx: NodeContext, values: dict[str, Any], variables: Mapping[str, Any]
) -> dict[str, Any]:
    """``values`` with every pin that has an expression replaced by the expression's value."""
    expressions = expressions_of(ctx)
    if not expressions:
        return values
    label = str(ctx.data.get("label") or ctx.node.id)
    for pin, text in expressions.items():
        _check_vars(label, pin, text, variables)
    script = cached(ctx, "pinExpressions", lambda: _build(ctx, expressions))
    params = {
        "values": {pin: values.get(pin) for pin in expressions},
        "vars": {k: v for k, v in variables.items() if not str(k).startswith("_")},
    }
    reply = await run_script(ctx, script, params)
    failed = reply.get("failed") if isinstance(reply, Mapping) else None
    if failed is not None:
        error = str(reply.get("error") or "")
        kind = error.partition("(")[0] or "Error"
        raise NodeError(
            f"pin expression on {label}.{failed} failed: {kind}: {reply.get('text')} — expression: "
            f"{expressions.get(failed)}"
        )
    out = dict(values)
    for pin, result in reply["values"].items():
        if "bad_json" in result:
            raise NodeError(
                f"pin expression on {label}.{pin} returned a value that cannot be sent as JSON: "
                f"{result['bad_json']}"
            )
        out[pin] = result["value"]
    return out


def _check_vars(label: str, pin: str, text: str, variables: Mapping[str, Any]) -> None:
    """``vars.name`` of a run variable that does not exist fails before anything runs."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return  # the sandbox reports it, with the line
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "vars"
            and node.attr not in variables
        ):
            known = ", ".join(sorted(str(k) for k in variables if not str(k).startswith("_")))
            raise NodeError(
                f"pin expression on {label}.{pin} failed: KeyError: \"unknown run var '{node.attr}' "
                f'(known: {known})" — expression: {text}'
            )


def _build(ctx: NodeContext, expressions: dict[str, str]) -> Script:
    label = str(ctx.data.get("label") or ctx.node.id)
    builder = ScriptBuilder(ctx.data.get("functions"))
    calls = []
    for index, (pin, text) in enumerate(expressions.items()):
        builder.plain(f"def vf_pin_{index}(value, vars):", "    return (")
        builder.add(text.strip(), f"the pin expression of {label}.{pin}")
        builder.plain("    )")
        calls.append(f"({pin!r}, vf_pin_{index})")
    builder.plain(
        "class VfRunVars:",
        "    pass",
        "def main(args):",
        "    params = args['params']",
        "    run_vars = VfRunVars()",
        "    for name, value in params['vars'].items():",
        "        setattr(run_vars, name, value)",
        "    out = {}",
        f"    for pin, fn in [{', '.join(calls)}]:",
        "        try:",
        "            out[pin] = vf_result(fn(params['values'].get(pin), run_vars))",
        "        except Exception as error:",
        "            return {'failed': pin, 'error': repr(error), 'text': str(error)}",
        "    return {'values': out}",
    )
    return builder.build()
