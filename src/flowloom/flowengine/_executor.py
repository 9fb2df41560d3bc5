"""A flow run in this process: its Python tasks (``shell.exec`` nodes without a command of their own) call
their functions through the engine's workers instead of a ``python3 -c`` subprocess. ``PythonTasks`` is
the ``shell.exec`` executor of the engine made for one run: it knows that flow's functions by node id and
hands every other ``shell.exec`` node to the built-in executor."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from flowloom.engine import NodeContext, NodeError, NodeExecutor, NodeResult, Traits
from flowloom.formats.flowengine import ROOT_KEY
from flowloom.ir import Node
from flowloom.nodes._kit import time_limit  # shell.exec's timeout, as the command would have it

from ._binding import flowloom_bind


@dataclass(frozen=True, slots=True)
class PythonCall:
    """One node's function, how each parameter is decoded (``_binding``) and its time limit."""

    fn: Callable[..., Any]
    how: Mapping[str, str]
    timeout_s: float | None


class PythonTasks:
    """``shell.exec`` for one flow's run: the nodes in ``calls`` call their function, the others run
    their command through ``builtin``."""

    type: ClassVar[str] = "shell.exec"

    def __init__(self, builtin: NodeExecutor, calls: Mapping[str, PythonCall]) -> None:
        self._builtin = builtin
        self._calls = dict(calls)
        self.traits: Traits = getattr(builtin, "traits", Traits(entry=True, terminal=True))
        self.metadata = getattr(builtin, "metadata", None)

    def config_errors(self, node: Node) -> list[str]:
        check = getattr(self._builtin, "config_errors", None)
        return list(check(node)) if check is not None else []

    async def execute(self, ctx: NodeContext) -> NodeResult:
        call = self._calls.get(ctx.node.id)
        if call is None:
            result: NodeResult = await self._builtin.execute(ctx)  # type: ignore[assignment]
            return result
        values = dict(ctx.run_inputs) if ctx.data.get(ROOT_KEY) else dict(ctx.inputs)
        try:
            arguments = flowloom_bind(call.fn, values, call.how)
        except LookupError as exc:
            raise NodeError(str(exc.args[0])) from None
        except ValueError as exc:  # an upstream task's output that is not JSON
            raise NodeError(f"Execution failed: an input is not JSON: {exc}") from exc
        with time_limit(call.timeout_s):
            done, value = await _call(ctx, call.fn, arguments)
        if not done:
            raise NodeError(f"{type(value).__name__}: {value}") from value
        try:
            text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise NodeError(
                f"Execution failed: task {ctx.node.id} returned a {type(value).__name__}, which is not JSON "
                f"({exc})"
            ) from exc
        outputs = {"output": json.loads(text), "stdout": text, "stderr": "", "exit_code": 0, "success": True}
        return NodeResult(outputs=outputs)


async def _call(ctx: NodeContext, fn: Callable[..., Any], arguments: dict[str, Any]) -> tuple[bool, Any]:
    """``(True, result)`` or ``(False, what it raised)``: an async function on the loop, any other on the
    engine's workers (a thread by default)."""
    if inspect.iscoroutinefunction(fn):
        try:
            return True, await fn(**arguments)
        except Exception as exc:
            return False, exc
    return await ctx.workers.call(_invoke, fn, arguments)


def _invoke(fn: Callable[..., Any], arguments: dict[str, Any]) -> tuple[bool, Any]:
    try:
        return True, fn(**arguments)
    except (Exception, SystemExit) as exc:  # sys.exit() in a task fails the task, not the process
        return False, exc
