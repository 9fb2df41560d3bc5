"""Running a flow's document in this process, on an ``Engine`` made for that run (its ``shell.exec``
executor knows the flow's functions: ``_executor.PythonTasks``), and reading a run's sink results."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import anyio

from flowloom.engine import Engine, NodeExecutor
from flowloom.formats.flowengine import FlowengineFormat
from flowloom.ir import InvalidWorkflowError
from flowloom.nodes import NodeRegistry

from ._executor import PythonCall, PythonTasks
from ._result import result_object
from ._task import Task
from ._types import FlowDefinitionError

T = TypeVar("T")


class FlowRunError(Exception):
    """A flow's run failed: ``str(e)`` is the run error (``Node <name> failed: <error>``), ``e.result``
    the full result object."""

    def __init__(self, message: str, result: dict[str, Any]) -> None:
        super().__init__(message)
        self.result = result


async def execute_here(
    document: dict[str, Any], calls: Mapping[str, PythonCall], inputs: Mapping[str, Any]
) -> dict[str, Any]:
    """Run the document here and return its result object."""
    for name, value in inputs.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise FlowDefinitionError(f"input {name!r} is not a JSON value ({exc})") from exc
    async with Engine(registry=_WithPythonTasks(NodeRegistry.default(), calls)) as engine:
        try:
            compiled = engine.load(document, format=FlowengineFormat.name)
        except InvalidWorkflowError as exc:
            problems = "; ".join(exc.errors)
            raise FlowDefinitionError(f"flow {document.get('name')!r} is not valid: {problems}") from exc
        run = engine.start(compiled, dict(inputs))  # RetryWorkflow: the engine starts it over
        await run.join()
        return result_object(compiled, run)


class _WithPythonTasks:
    """The built-in node types, ``shell.exec`` knowing the flow's functions (a lookup over the registry
    rather than a registration, which would scan the installed packages' entry points on every run)."""

    def __init__(self, registry: NodeRegistry, calls: Mapping[str, PythonCall]) -> None:
        self._registry = registry
        builtin = registry.get(PythonTasks.type)
        assert builtin is not None
        self._python_tasks = PythonTasks(builtin, calls)

    def get(self, node_type: str) -> NodeExecutor | None:
        if node_type == PythonTasks.type:
            return self._python_tasks
        return self._registry.get(node_type)


def sink_result(tasks: Mapping[str, Task], sinks: Sequence[str], result: Mapping[str, Any]) -> Any:
    """The sink's result (its task's result port) of a result object; ``{node id: result}`` with several
    sinks, a sink that failed left out (``None`` for a single one). ``FlowRunError`` if the run failed."""
    if result.get("status") != "succeeded":
        raise FlowRunError(str(result.get("error") or f"Run {result.get('status')}"), dict(result))
    outputs = result.get("outputs") or {}
    found = {
        node_id: outputs[node_id].get(tasks[node_id].result_port)
        for node_id in sinks
        if isinstance(outputs.get(node_id), Mapping)
    }
    if len(sinks) == 1:
        return found.get(sinks[0])
    return found


def sync(fn: Callable[..., Awaitable[T]], inputs: Mapping[str, Any]) -> T:
    """``await fn(**inputs)`` from sync code: on a new event loop, or on a thread of its own when this
    thread already runs one (a notebook)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return anyio.run(partial(_call, fn, inputs))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="flowloom-flow") as pool:
        return pool.submit(anyio.run, partial(_call, fn, inputs)).result()


async def _call(fn: Callable[..., Awaitable[T]], inputs: Mapping[str, Any]) -> T:
    return await fn(**inputs)
