"""Pipelines on the engine: tasks compile to ``ir`` nodes (a dependency is an edge plus a ``ref`` input to
its result) and one executor, bound to a pipeline, runs them."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, ClassVar

from flowloom.engine import (
    LOCAL_WORKERS,
    WORKERS_KEY,
    NodeContext,
    NodeError,
    NodeExecutor,
    NodeResult,
    Traits,
)
from flowloom.ir import Edge, JsonSchema, Node, OnError, Wait, Workflow, WorkflowSettings

from ._context import WaitingForInput
from ._registry import TaskRegistry
from ._runs import RunState
from ._spec import TaskSpec

TASK_NODE_TYPE = "pipeline-task"
RESULT_KEY = "result"
_RESULT_SCHEMA = JsonSchema(type="object", properties={RESULT_KEY: JsonSchema()})
_MISSING: Any = object()
_LOCAL = {WORKERS_KEY: LOCAL_WORKERS}  # a task kept on the pipeline's threads


class TaskError(NodeError):
    """A task raised; the message is ``"<ExceptionType>: <message>"`` (the type alone for an empty message)
    and the cause is the exception."""


class _Raised(Exception):
    """Carries what a sync task raised that is not an ``Exception`` (``SystemExit``, ``KeyboardInterrupt``)
    out of its thread as an ordinary failure."""

    def __init__(self, raised: BaseException) -> None:
        super().__init__(raised)
        self.raised = raised


def to_workflow(name: str, registry: TaskRegistry, include: Collection[str], max_parallel: int) -> Workflow:
    """The tasks in ``include`` as a workflow: dependencies outside ``include`` are not edges (a resumed
    run is given their earlier results)."""
    nodes: list[Node] = []
    edges: list[Edge] = []
    for task in registry.topological():
        if task not in include:
            continue
        spec = registry[task]
        deps = [dep for dep in spec.deps if dep in include]
        nodes.append(
            Node(
                id=task,
                type=TASK_NODE_TYPE,
                title=task,
                data={"function": spec.function_name, **(_LOCAL if spec.local else {})},
                inputs=JsonSchema(type="object", properties={dep: JsonSchema() for dep in deps}),
                inputs_values={dep: {"type": "ref", "content": [dep, RESULT_KEY]} for dep in deps},
                outputs=_RESULT_SCHEMA,
                retry=spec.retry,
                timeout_s=spec.timeout_s,
            )
        )
        edges.extend(Edge(source=dep, target=task) for dep in deps)
    settings = WorkflowSettings(on_error=OnError.CONTINUE, max_parallel=max_parallel)
    return Workflow(nodes=nodes, edges=edges, settings=settings, name=name)


class TaskExecutor:
    """Runs the tasks of one pipeline's runs: async functions on the event loop, sync ones on the engine's
    workers (``ctx.workers``: the pipeline's threads, its executor, or the workers it was given). Every
    task is an entry when it has no dependency, may end a path, and needs all its dependencies
    (``strict_join``). ``on_retry`` is told when an attempt after the first
    starts (the engine announces only a node's first start)."""

    type: ClassVar[str] = TASK_NODE_TYPE
    traits: ClassVar[Traits] = Traits(entry=True, terminal=True, strict_join=True)

    def __init__(
        self,
        runs: Mapping[str, RunState],
        on_retry: Callable[[RunState, str, int], None] | None = None,
    ) -> None:
        self._runs = runs
        self._on_retry = on_retry

    async def execute(self, ctx: NodeContext) -> NodeResult | Wait:
        state = self._runs[ctx.run_id]
        name = ctx.node.id
        spec = state.specs[name]
        attempts = state.attempts
        attempt = attempts[name] = attempts.get(name, 0) + 1
        if attempt > 1:
            state.exceptions.pop(name, None)
            if self._on_retry is not None:
                self._on_retry(state, name, attempt)
        fn = spec.fn
        try:
            if spec.named or spec.takes_upstream or spec.context_param is not None:
                kwargs = _arguments(spec, ctx.inputs, state, ctx.answers, ctx.hide)
                result = await (fn(**kwargs) if spec.is_async else ctx.workers.call(_call, fn, kwargs))
            else:
                result = await (fn() if spec.is_async else ctx.workers.call(_call, fn, {}))
        except WaitingForInput as waiting:  # a task's question: the run waits for its answer
            return waiting.wait
        except (Exception, SystemExit) as exc:
            if isinstance(exc, _Raised) and isinstance(exc.raised, WaitingForInput):  # a sync task's
                return exc.raised.wait
            # What a task raises is its failure, SystemExit too (sys.exit() in the task or in a library it
            # calls, argparse...): its dependents are skipped and the rest of the run goes on. A sync task's
            # every BaseException arrives here as an exception (see _call). An async task runs on the event
            # loop's thread, where a KeyboardInterrupt may be a real Ctrl-C: that must stop the run, not
            # count as one task's failure, so an async task's KeyboardInterrupt goes on up (below), as
            # cancellation and GeneratorExit do: the task stops there and the run is canceled.
            raised = exc.raised if isinstance(exc, _Raised) else exc
            state.exceptions[name] = raised
            raise TaskError(describe(raised)) from raised
        except KeyboardInterrupt:
            state.control.cancel(f'was interrupted: KeyboardInterrupt in task "{name}"')  # the report's why
            raise
        state.results[name] = result
        return NodeResult(outputs={RESULT_KEY: result})


def describe(exc: BaseException) -> str:
    """``"<ExceptionType>: <message>"``, or the type alone when the message is empty."""
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _call(fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """A sync task's call, on its thread. ``StopIteration`` cannot travel through a future (asyncio refuses
    it, and the run would wait forever), so it becomes a ``RuntimeError``, as PEP 479 does for generators.
    Nothing outside can raise into a thread, so whatever else the task raises is its own outcome: a
    ``SystemExit`` or ``KeyboardInterrupt`` would otherwise reach the event loop as if the run were
    canceled, and is carried as a failure instead."""
    try:
        return fn(**kwargs)
    except StopIteration as exc:
        raise RuntimeError(describe(exc)) from exc
    except Exception:
        raise
    except BaseException as exc:
        raise _Raised(exc) from None


def _arguments(
    spec: TaskSpec,
    inputs: Mapping[str, Any],
    state: RunState,
    answers: Mapping[str, Any],
    hide: Callable[[str], None],
) -> dict[str, Any]:
    """Keyword arguments of one call: dependency results (by name, or all in ``upstream``) and the
    ``RunContext``. A result the engine did not bind (``None``) is ``None``; a dependency kept from an
    earlier run (resume) gives its earlier result."""
    kwargs: dict[str, Any] = {}
    preset = state.preset_results
    if spec.takes_upstream:
        kwargs["upstream"] = {dep: preset[dep] if dep in preset else inputs.get(dep) for dep in spec.deps}
    for param, dep in spec.named:
        value = inputs.get(dep, _MISSING)
        kwargs[param] = (preset.get(dep) if dep in preset else None) if value is _MISSING else value
    if spec.context_param is not None:
        kwargs[spec.context_param] = state.context.bind(
            state.control, state.run_id, spec.name, spec.timeout_s, answers, hide
        )
    return kwargs


class TaskLookup:
    """The executor lookup of a pipeline's engine: one node type."""

    def __init__(self, executor: TaskExecutor) -> None:
        self._executor = executor

    def get(self, node_type: str) -> NodeExecutor | None:
        return self._executor if node_type == TASK_NODE_TYPE else None
