"""What a flow's Python is refused for when it compiles, without running any of it: a pin expression that
does not parse (naming node and pin), a flow function that does not parse or imports a module the sandbox
refuses. Code and function nodes are checked by the sandbox when they run."""

from __future__ import annotations

import ast
from collections.abc import Mapping

from ._lower import LoweringError
from ._parse import VFlow

SANDBOX_IMPORTS = frozenset({"json", "math", "random", "string"})
"""The modules sandboxed VisualFlow code may import (``flowloom.nodes.visual._script.ALLOWED_IMPORTS``)."""


def check_code(flow: VFlow) -> None:
    for node in flow.nodes.values():
        expressions = node.data.get("pinExpressions")
        if not isinstance(expressions, Mapping):
            continue
        for pin, text in expressions.items():
            if not isinstance(text, str) or not text.strip():
                continue
            try:
                ast.parse(text.strip(), mode="eval")
            except SyntaxError as exc:
                raise LoweringError(
                    f"Node '{node.id}': the pin expression of {node.label}.{pin} does not parse: {exc.msg} "
                    f"(expression: {text})"
                ) from None
    functions = flow.functions
    if functions is None:
        return
    if not isinstance(functions, list):
        raise LoweringError("'functions' must be a list of {name, code}")
    for index, entry in enumerate(functions):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("code"), str):
            raise LoweringError(f"functions[{index}] must be an object with 'name' and 'code'")
        name = entry.get("name") or f"functions[{index}]"
        try:
            tree = ast.parse(entry["code"])
        except SyntaxError as exc:
            raise LoweringError(
                f"flow function '{name}' does not parse: {exc.msg} (line {exc.lineno})"
            ) from None
        for found in ast.walk(tree):
            if isinstance(found, ast.Import):
                modules = [alias.name for alias in found.names]
            elif isinstance(found, ast.ImportFrom):
                modules = [("." * found.level) + (found.module or "")]
            else:
                continue
            for module in modules:
                if module.partition(".")[0] not in SANDBOX_IMPORTS:
                    raise LoweringError(
                        f"flow function '{name}', line {found.lineno}: import of '{module}' is not allowed "
                        f"in the sandbox: only pure standard-library modules may be imported "
                        f"({', '.join(sorted(SANDBOX_IMPORTS))})"
                    )
