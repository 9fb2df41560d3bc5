"""The runtime side of a pipeline: its engine, its workers, compiled plans, and the runs it started."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import anyio

from flowloom.engine import CompiledWorkflow, Engine, EventBus, Lazy, Services
from flowloom.ir import FlowloomError, RunStore, Status, Workers

from ._compile import TaskExecutor, TaskLookup, to_workflow
from ._context import RunContext, RunControl, run_context
from ._hooks import HookDispatcher, LoggingHook, RunHook
from ._registry import TaskRegistry
from ._report import build_report
from ._runs import PipelineRun, RunState
from ._stored import PIPELINE_KEY, stored_report, stored_tasks, unstorable_tasks, user_metadata
from ._validate import InvalidPipelineError, problems

KEPT_RUNS = 1000  # runs a pipeline remembers in memory (their reports, results and contexts)
DEFAULT_LOGGER = logging.getLogger("flowloom.pipeline")


class UnknownRunError(FlowloomError, LookupError):
    """A run id this pipeline does not know."""


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """How much of a pipeline runs at once: ``max_parallel`` tasks of one run (sync and async alike), and
    ``max_workers`` threads for sync tasks (when the pipeline makes its own workers)."""

    max_parallel: int = 4
    max_workers: int = 8

    def __post_init__(self) -> None:
        for name in ("max_parallel", "max_workers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, not {value!r}")


@dataclass(frozen=True, slots=True)
class _Plan:
    compiled: CompiledWorkflow
    tasks: tuple[str, ...]


class Runner:
    """Starts runs of a registry's tasks on a private engine. The registry is the pipeline's own (tasks
    registered later are seen: plans are keyed by the registry's version)."""

    def __init__(
        self,
        *,
        name: str,
        registry: TaskRegistry,
        config: SchedulerConfig,
        hooks: Sequence[RunHook],
        logger: logging.Logger | None,
        store: RunStore | None,
        workers: Workers,
        local_workers: Workers,
        owns_workers: bool,
    ) -> None:
        self.name = name
        self.registry = registry
        self.config = config
        self.store = store
        self.runs: OrderedDict[str, RunState] = OrderedDict()
        self._workers = workers  # shared with the pipeline's copies
        self._owns_workers = owns_workers
        self._local_workers = local_workers  # the pipeline's threads (``workers`` too, unless given)
        self._plans: dict[frozenset[str] | None, tuple[int, _Plan]] = {}
        self._checked = -1
        self._open = False  # inside ``async with`` the pipeline
        all_hooks = [*hooks, LoggingHook(logger)] if logger is not None else list(hooks)
        hooked = HookDispatcher(all_hooks, self.runs, logger or DEFAULT_LOGGER) if all_hooks else None
        tasks = TaskExecutor(self.runs, hooked.attempt_started if hooked else None)
        self.engine = Engine(
            registry=TaskLookup(tasks),
            # the engine does not close them: the pipeline
            services=Services(workers=Lazy.of(workers), local_workers=Lazy.of(local_workers)),
            bus=EventBus(),
            max_parallel=config.max_parallel,
            store=store,
        )
        if hooked is not None:
            self.engine.bus.add_listener(hooked)

    def check(self) -> None:
        """``InvalidPipelineError`` listing every problem of the registry (checked once per version)."""
        if self._checked == self.registry.version:
            return
        found = problems(self.name, self.registry)
        if found:
            raise InvalidPipelineError(found)
        self._checked = self.registry.version

    def plan(self, include: frozenset[str] | None = None) -> _Plan:
        """The compiled workflow of the tasks in ``include`` (all: ``None``), validated first."""
        self.check()
        version = self.registry.version
        cached = self._plans.get(include)
        if cached is not None and cached[0] == version:
            return cached[1]
        names = include if include is not None else frozenset(self.registry)
        workflow = to_workflow(self.name, self.registry, names, self.config.max_parallel)
        tasks = tuple(task for task in self.registry.topological() if task in names)
        plan = _Plan(self.engine.compile(workflow), tasks)
        if len(self._plans) > 64:
            self._plans.clear()
        self._plans[include] = (version, plan)
        return plan

    def start(
        self,
        context: RunContext[Any] | None = None,
        *,
        include: frozenset[str] | None = None,
        tasks: tuple[str, ...] | None = None,
        preset: Mapping[str, dict[str, Any]] | None = None,
        resumed_from: str | None = None,
    ) -> PipelineRun:
        """Start a run of the tasks in ``include`` (all: ``None``). ``tasks`` are the tasks its report
        lists (default: those it runs); ``preset`` gives the report entries, results included, of tasks
        kept from an earlier run."""
        context = run_context(context, self.name)
        loop = asyncio.get_running_loop()
        plan = self.plan(include)
        state = self._new_state(
            str(uuid.uuid4()), context, tasks or plan.tasks, preset=preset, resumed_from=resumed_from
        )
        metadata = {**context.metadata, PIPELINE_KEY: self.name}
        state.run = self.engine.start(plan.compiled, {}, run_id=state.run_id, metadata=metadata)
        return self._launched(state, loop)

    async def resume_recorded(
        self, run_id: str, from_tasks: Sequence[str] | None, context: RunContext[Any] | None
    ) -> PipelineRun:
        """A new run from a recorded one (this process's or another's): its succeeded tasks are restored from
        the store, except ``from_tasks``, what depends on them, and tasks whose result the store could not
        keep (with what depends on those); the rest runs."""
        store = self.store
        assert store is not None
        if context is not None:
            context = run_context(context, self.name)
        row = await store.get_run(run_id)
        if row is None:
            raise UnknownRunError(f'no run "{run_id}" in the store of pipeline "{self.name}"')
        if row.status is Status.WAITING:
            raise ValueError(
                f"run {run_id} is waiting for an answer: resume it with payload=... (and key=...)"
            )
        if not row.status.terminated:
            raise ValueError(f"run {run_id} has not ended yet ({row.status}): wait for it before resuming it")
        recorded = stored_tasks(await store.get_workflow(row.workflow_hash))
        gone = [task for task in recorded if task not in self.registry]
        if gone:
            raise ValueError(f"run {run_id} has tasks this pipeline does not: {gone}")
        outside = [task for task in from_tasks or () if task not in recorded]
        if outside:
            raise ValueError(f"resume checkpoints {outside} were not part of run {run_id}")
        rows = await store.get_nodes(run_id)
        plan = self.plan(frozenset(recorded))
        if context is None:  # the earlier run's: in full if it ran in this process, else its metadata
            earlier = self.runs.get(run_id)
            context = (
                earlier.context
                if earlier is not None
                else RunContext(None, metadata=user_metadata(row.metadata))
            )
        from_nodes = list(dict.fromkeys([*(from_tasks or ()), *unstorable_tasks(rows)]))
        run = await self.engine.resume(run_id, from_nodes=from_nodes, workflow=plan.compiled)
        # No await since the engine spawned the run: its tasks find their state.
        state = self._new_state(
            run.id,
            context,
            plan.tasks,
            resumed_from=run_id,
            restored={r.node_id: r for r in rows if r.status is Status.SUCCEEDED and r.scope == ()},
        )
        state.run = run
        return self._launched(state, asyncio.get_running_loop())

    async def answer_recorded(
        self, run_id: str, payload: Any, key: str | None, context: RunContext[Any] | None
    ) -> PipelineRun:
        """Answer a waiting run (this process's or another's, through the store): it goes on in place,
        same id; the waiting task runs again and its ``wait_for_input(key)`` returns ``payload``."""
        store = self.store
        assert store is not None
        if context is not None:
            context = run_context(context, self.name)
        row = await store.get_run(run_id)
        if row is None:
            raise UnknownRunError(f'no run "{run_id}" in the store of pipeline "{self.name}"')
        recorded = stored_tasks(await store.get_workflow(row.workflow_hash))
        gone = [task for task in recorded if task not in self.registry]
        if gone:
            raise ValueError(f"run {run_id} has tasks this pipeline does not: {gone}")
        plan = self.plan(frozenset(recorded))
        if context is None:
            earlier = self.runs.get(run_id)
            context = (
                earlier.context
                if earlier is not None
                else RunContext(None, metadata=user_metadata(row.metadata))
            )
        rows = await store.get_nodes(run_id)
        previous = self.runs.get(run_id)
        # the state is in place before the engine spawns the run: its tasks find it
        state = self._new_state(
            run_id,
            context,
            plan.tasks,
            restored={r.node_id: r for r in rows if r.status is Status.SUCCEEDED and r.scope == ()},
        )
        try:
            state.run = await self.engine.resume(run_id, payload=payload, key=key, workflow=plan.compiled)
        except BaseException:  # refused (stale key, a second answer): the run's earlier state stays
            if previous is not None:
                self.runs[run_id] = previous
            else:
                self.runs.pop(run_id, None)
            raise
        return self._launched(state, asyncio.get_running_loop())

    def _new_state(
        self, run_id: str, context: RunContext[Any], tasks: tuple[str, ...], **extra: Any
    ) -> RunState:
        timeout = context.timeout_s
        state = RunState(
            run_id=run_id,
            dag_name=self.name,
            specs=self.registry.by_name,
            tasks=tasks,
            context=context,
            created_at=int(time.time() * 1000) / 1000,  # milliseconds, as the engine's report has its times
            control=RunControl(time.monotonic() + timeout if timeout is not None else None),
            **extra,
        )
        self._remember(state)
        return state

    def _launched(self, state: RunState, loop: asyncio.AbstractEventLoop) -> PipelineRun:
        timeout = state.context.timeout_s
        if timeout is not None:
            state.timer = loop.call_later(timeout, state.on_deadline)
        return PipelineRun(state, self.report)

    async def finish(self, handle: PipelineRun) -> str:
        """Wait for a started run's end; return its id. Cancelling the caller cancels the run."""
        try:
            await handle.wait()
        except BaseException:
            handle._state.cancel("was canceled by its caller")
            with anyio.CancelScope(shield=True):
                await handle.wait()
            raise
        return handle.id

    def _remember(self, state: RunState) -> None:
        runs = self.runs
        runs[state.run_id] = state
        while len(runs) > KEPT_RUNS:
            oldest = next(iter(runs.values()))
            if oldest.run is None or not oldest.run.done:
                break
            runs.popitem(last=False)

    def state(self, run_id: str) -> RunState:
        state = self.runs.get(run_id)
        if state is None:
            raise UnknownRunError(
                f'pipeline "{self.name}" has no run "{run_id}" '
                f"(it keeps the last {KEPT_RUNS} runs it started)"
            )
        return state

    def report(self, run_id: str) -> dict[str, Any]:
        return build_report(self.state(run_id))

    async def load_report(self, run_id: str) -> dict[str, Any]:
        """The report of a run this pipeline started, else of one recorded in its store."""
        state = self.runs.get(run_id)
        if state is not None or self.store is None:
            return self.report(run_id)
        row = await self.store.get_run(run_id)
        if row is None:
            raise UnknownRunError(f'no run "{run_id}" in pipeline "{self.name}" or its store')
        document = await self.store.get_workflow(row.workflow_hash)
        return stored_report(row, await self.store.get_nodes(run_id), document)

    async def open(self) -> None:
        """``async with pipeline``: runs started inside belong to the engine's task group."""
        if self._open:
            raise RuntimeError(f'pipeline "{self.name}" is open already: "async with" it once at a time')
        await self.engine.__aenter__()
        self._open = True

    async def close(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """The end of ``async with pipeline``: the engine's task group ends and the engine releases what it
        made (once: its ``__aexit__`` does), then the workers. Not open (an exit too many): ``aclose()``."""
        if not self._open:
            await self.aclose()
            return
        self._open = False
        try:
            await self.engine.__aexit__(exc_type, exc, tb)
        finally:
            await self._close_workers()

    async def aclose(self) -> None:
        """Let the task threads end (threads still busy finish in the background; a later sync task starts
        new ones) and release what the engine made. Safe to repeat."""
        await self._close_workers()
        await self.engine.aclose()

    async def _close_workers(self) -> None:
        with anyio.CancelScope(shield=True):
            if self._owns_workers:  # workers given to the pipeline are their owner's to close
                await self._workers.aclose()
            else:
                await self._local_workers.aclose()
