"""The ``python3 -c`` script a saved flow runs for a Python task: the binding helpers (``_binding``'s own
source), the module-level imports of the task's module, the function's source without its decorators, and
the call that binds the inputs, calls it and prints its result as JSON."""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Mapping
from typing import Any

from . import _binding
from ._types import FlowDefinitionError


def python_script(fn: Callable[..., Any], how: Mapping[str, str], *, task_name: str) -> str:
    """The whole script; ``FlowDefinitionError`` when the function's source cannot be read."""
    parts = [
        inspect.getsource(_binding),
        *module_imports(fn),
        function_source(fn, task_name=task_name),
        f"flowloom_main({fn.__name__}, {dict(how)!r})",
    ]
    return "\n\n".join(part.strip("\n") for part in parts) + "\n"


def function_source(fn: Callable[..., Any], *, task_name: str) -> str:
    """``fn``'s ``def``, dedented, from its ``def`` line on (decorators left out, comments kept)."""
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as exc:
        raise FlowDefinitionError(
            f'task "{task_name}": the source of {getattr(fn, "__qualname__", fn)!r} cannot be read '
            f"({exc}); a Python task that runs outside this process must be a function defined in a file"
        ) from exc
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == fn.__name__:
            return "\n".join(lines[node.lineno - 1 : node.end_lineno])
    raise FlowDefinitionError(f'task "{task_name}": {fn.__name__!r} is not a def (a lambda cannot be saved)')


def module_imports(fn: Callable[..., Any]) -> list[str]:
    """The top-level imports of ``fn``'s module, each tried (an import the script's Python lacks is left
    out rather than failing a function that may not need it). flowloom's own, relative and ``__future__``
    imports are left out."""
    module = inspect.getmodule(fn)
    if module is None:
        return []
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return []
    found: list[str] = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(name.split(".")[0] in ("flowloom", "__future__") for name in names):
            continue
        text = ast.get_source_segment(source, node)
        if text:
            found.append(f"try:\n{textwrap.indent(text, '    ')}\nexcept ImportError:\n    pass")
    return found
