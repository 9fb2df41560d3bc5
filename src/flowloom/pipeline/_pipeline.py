"""``Pipeline``: a named DAG of Python functions, declared with ``@pipeline.task()`` and run by the engine."""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from types import TracebackType
from typing import Any, Literal, NamedTuple, Self, TypeVar, overload

from flowloom.engine import NO_ANSWER
from flowloom.ir import RetryPolicy, RunStore, Workers
from flowloom.workers import ThreadWorkers

from ._context import RunContext
from ._display import render
from ._hooks import RunHook, hook_list
from ._registry import TaskRegistry
from ._report import build_report
from ._runner import Runner, SchedulerConfig
from ._runs import PipelineRun
from ._spec import TaskSpec, build_spec, is_async_callable
from ._validate import known_tasks

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "__flowloom_tasks__"  # on a decorated function: the (pipeline, task) it was registered as, a list


class _Mark(NamedTuple):
    pipeline: str
    task: str


class Pipeline:
    """A named DAG of tasks and what runs it: a private engine, workers for sync tasks, hooks.

    ``max_parallel`` caps the tasks of one run that run at once (sync and async alike). Sync tasks run on
    the pipeline's ``flowloom.workers.ThreadWorkers``: ``max_workers`` threads, or your ``executor`` (a
    ``concurrent.futures.Executor``); or on ``workers``, any ``flowloom.ir.Workers`` (yours to close).
    ``hooks`` (a hook or a list of them) get run and task events; ``logger`` logs them. ``store`` is the
    ``RunStore`` runs are recorded in. Use ``async with pipeline:`` to release the threads at the end.
    """

    def __init__(
        self,
        name: str,
        *,
        executor: Executor | None = None,
        max_workers: int = 8,
        max_parallel: int = 4,
        logger: logging.Logger | None = None,
        hooks: RunHook | Iterable[RunHook] | None = None,
        store: RunStore | None = None,
        workers: Workers | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a pipeline needs a non-empty name, not {name!r}")
        if workers is not None and executor is not None:
            raise ValueError(f'pipeline "{name}": give workers= or executor=, not both')
        self._name = name
        self._config = SchedulerConfig(max_parallel=max_parallel, max_workers=max_workers)
        owns_workers = workers is None
        # no thread until a sync task runs; with workers given, these serve tasks with workers="local"
        threads = ThreadWorkers(max_workers=max_workers, executor=executor, name=f"flowloom-{name}")
        weakref.finalize(self, threads.shutdown)  # a pipeline dropped without aclose leaves no idle threads
        if workers is None:
            workers = threads
        # copies (override_tasks, subgraph) share the options, so the workers too
        self._options: dict[str, Any] = {
            "logger": logger,
            "hooks": hook_list(hooks),
            "store": store,
            "workers": workers,
            "local_workers": threads,
            "owns_workers": owns_workers,
        }
        self._registry = TaskRegistry()
        self._callables: dict[int, tuple[Callable[..., Any], str]] = {}
        self._runner = self._make_runner()

    def _make_runner(self) -> Runner:
        return Runner(name=self._name, registry=self._registry, config=self._config, **self._options)

    def _with_registry(self, registry: TaskRegistry) -> Pipeline:
        """A pipeline of the same name and options over ``registry`` (its own engine and runs)."""
        other = Pipeline.__new__(Pipeline)
        other._name = self._name
        other._config = self._config
        other._options = self._options
        other._registry = registry
        other._callables = {key: value for key, value in self._callables.items() if value[1] in registry}
        other._runner = other._make_runner()
        return other

    # authoring -------------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def config(self) -> SchedulerConfig:
        return self._config

    @property
    def registry(self) -> TaskRegistry:
        """The registered tasks (``TaskSpec``s by name)."""
        return self._registry

    @property
    def tasks(self) -> tuple[str, ...]:
        """Task names, every task after its dependencies."""
        return tuple(self._registry.topological())

    @property
    def dependencies(self) -> dict[str, tuple[str, ...]]:
        """Each task's dependencies by name."""
        return self._registry.dependencies()

    def list_tasks(self) -> list[str]:
        """Task names, every task after its dependencies."""
        return self._registry.topological()

    @overload
    def task(self, name: F, /) -> F: ...

    @overload
    def task(
        self,
        name: str | None = None,
        *,
        deps: Sequence[str | Callable[..., Any]] | None = None,
        timeout_s: float | None = None,
        retries: int = 0,
        retry: RetryPolicy | None = None,
        workers: Literal["local"] | None = None,
    ) -> Callable[[F], F]: ...

    def task(
        self,
        name: str | Callable[..., Any] | None = None,
        *,
        deps: Sequence[str | Callable[..., Any]] | None = None,
        timeout_s: float | None = None,
        retries: int = 0,
        retry: RetryPolicy | None = None,
        workers: Literal["local"] | None = None,
    ) -> Any:
        """Register a function as a task: ``@pipeline.task()``.

        ``name``: defaults to the function's name. ``deps``: task names or decorated functions; without it,
        the function's required parameters named like already registered tasks are its dependencies.
        ``timeout_s``: per attempt, async tasks only. ``retries``: attempts after the first failed one,
        immediately; ``retry``: a ``RetryPolicy`` with delays and backoff instead. ``workers="local"``:
        a sync task runs on the pipeline's own threads even when the pipeline's ``workers`` are a cluster.
        """
        if callable(name):
            return self.task()(name)
        if workers not in (None, "local"):
            raise ValueError(f'workers must be "local" or None (the pipeline\'s workers), not {workers!r}')
        if name is not None:  # a named task's mistakes show at once, others' when the function comes
            if not isinstance(name, str) or not name:
                raise ValueError(f"a task name must be a non-empty string, not {name!r}")
            _retry_policy(name, retries, retry)
        if deps is not None and (isinstance(deps, str) or not isinstance(deps, Iterable)):
            raise TypeError(f"deps must be a list of task names or tasks, not {deps!r}")

        def register(fn: F) -> F:
            if not callable(fn):
                raise TypeError(f"@{self._name}.task() decorates a function, not {fn!r}")
            task_name = name if name is not None else getattr(fn, "__name__", None)
            if not isinstance(task_name, str) or not task_name:
                raise ValueError(f"cannot name a task after {fn!r}: pass name=...")
            policy = _retry_policy(task_name, retries, retry)
            _check_timeout(task_name, fn, timeout_s)
            names, foreign = self._dependency_names(task_name, deps)
            spec = build_spec(
                name=task_name,
                fn=fn,
                deps=names,
                registered=self._registry,
                timeout_s=timeout_s,
                retry=policy,
                foreign=foreign,
                local=workers == "local",
            )
            self._registry.add(spec)
            self._callables[id(fn)] = (fn, task_name)
            _mark(fn, _Mark(self._name, task_name))
            return fn

        return register

    def _dependency_names(
        self, task: str, deps: Sequence[str | Callable[..., Any]] | None
    ) -> tuple[list[str] | None, list[str]]:
        if deps is None:
            return None, []
        names: list[str] = []
        foreign: list[str] = []
        for dep in deps:
            if isinstance(dep, str):
                names.append(dep)
                continue
            if not callable(dep):
                raise TypeError(f'task "{task}": a dependency is a task name or a task, not {dep!r}')
            own = self._callables.get(id(dep))
            if own is not None and own[0] is dep:
                names.append(own[1])
                continue
            marks: list[_Mark] = getattr(dep, _MARK, [])
            label = marks[0].task if marks else getattr(dep, "__name__", repr(dep))
            names.append(label)
            if marks:
                where = ", ".join(f'"{m.task}" of pipeline "{m.pipeline}"' for m in marks)
                foreign.append(
                    f'task "{task}" depends on {where}: a task may depend only on tasks of its own '
                    f'pipeline ("{self._name}")'
                )
            else:
                foreign.append(
                    f'task "{task}" depends on {label!r}, a function that is not a registered task: '
                    f"decorate it with @{self._name}.task() before the tasks that depend on it"
                )
        return names, foreign

    def validate(self) -> None:
        """Raise ``InvalidPipelineError`` (a ``ValueError``) listing every problem: no tasks, unknown
        dependencies, dependencies on other pipelines' tasks, cycles, required parameters nothing provides.
        Runs validate first too."""
        self._runner.check()

    def display(self) -> str:
        """The DAG as ASCII text."""
        return render(self._name, self._registry)

    def subgraph(self, targets: Sequence[str]) -> Pipeline:
        """A pipeline of ``targets`` and everything they depend on (same functions and options)."""
        targets = known_tasks("subgraph target", targets, self._registry, self._name)
        return self._with_registry(self._registry.subset(self._registry.ancestors(targets)))

    def override_tasks(self, overrides: Mapping[str, Any] | None = None, /, **named: Any) -> Pipeline:
        """A copy of this pipeline in which the named tasks are replaced, keeping the graph: by a
        constant (the task's result) or a callable (given its inputs as a task is)."""
        merged = {**(overrides or {}), **named}
        known_tasks("task to override", merged, self._registry, self._name)
        registry = TaskRegistry(self._registry.specs())
        for task, value in merged.items():
            registry.replace(_override(registry[task], value))
        return self._with_registry(registry)

    # running ---------------------------------------------------------------------------------------------

    def start(self, context: RunContext[Any] | None = None) -> PipelineRun:
        """Start a run in the background (needs a running event loop) and return its handle."""
        return self._runner.start(context)

    async def run_once(self, context: RunContext[Any] | None = None) -> str:
        """Run every task once; return the run id (whatever the outcome: see ``get_run_report``)."""
        return await self._runner.finish(self._runner.start(context))

    async def run_many(
        self, contexts: Iterable[RunContext[Any] | None] | AsyncIterable[RunContext[Any] | None]
    ) -> list[str]:
        """One run per context, one after the other; a failed run does not stop the rest."""
        if isinstance(contexts, AsyncIterable):
            return [await self.run_once(context) async for context in contexts]
        return [await self.run_once(context) for context in contexts]

    async def run_subgraph(self, targets: Sequence[str], context: RunContext[Any] | None = None) -> str:
        """Run ``targets`` and what they depend on, only."""
        targets = known_tasks("subgraph target", targets, self._registry, self._name)
        include = frozenset(self._registry.ancestors(targets))
        return await self._runner.finish(self._runner.start(context, include=include))

    async def resume(
        self,
        run_id: str,
        from_tasks: Sequence[str] | None = None,
        context: RunContext[Any] | None = None,
        *,
        payload: Any = NO_ANSWER,
        key: str | None = None,
    ) -> str:
        """A new run that keeps the successful tasks of run ``run_id`` (their results are not computed
        again) and runs the rest; with ``from_tasks``, those tasks and everything downstream of them run
        again too. Returns the new run's id. Without a store, only runs of this process can be resumed; the
        context defaults to the earlier run's (with a store and a run of another process: its metadata).

        With ``payload``, answers the waiting run ``run_id`` instead (a task's ``wait_for_input(key)``;
        ``key`` may be left out when one question is open), from any process sharing the pipeline's store:
        the run goes on in place (same id, returned) once the waiting task has run again. Raises
        ``WaitError`` for a stale key or a run that is not waiting (another answer won)."""
        if payload is not NO_ANSWER:
            if from_tasks is not None:
                raise ValueError("resume answers a wait (payload) or runs tasks again (from_tasks), not both")
            runner = self._runner
            if runner.store is None:
                raise ValueError(f'pipeline "{self._name}" has no store: no run of it waits for an answer')
            return await runner.finish(await runner.answer_recorded(run_id, payload, key, context))
        if from_tasks is not None:
            from_tasks = known_tasks("resume checkpoint", from_tasks, self._registry, self._name)
        runner = self._runner
        if runner.store is not None:
            return await runner.finish(await runner.resume_recorded(run_id, from_tasks, context))
        old = runner.state(run_id)
        if old.run is None or not old.run.done:
            raise ValueError(f"run {run_id} has not ended yet: wait for it before resuming it")
        outside = [task for task in from_tasks or () if task not in old.tasks]
        if outside:
            raise ValueError(f"resume checkpoints {outside} were not part of run {run_id}")
        rerun = self._registry.descendants(from_tasks or ())
        keep = {
            task: entry
            for task, entry in build_report(old)["tasks"].items()
            if entry["status"] == "SUCCESS" and task not in rerun and task in self._registry
        }
        tasks = tuple(task for task in old.tasks if task in self._registry)
        handle = runner.start(
            context if context is not None else old.context,
            include=frozenset(task for task in tasks if task not in keep),
            tasks=tasks,
            preset=keep,
            resumed_from=run_id,
        )
        return await runner.finish(handle)

    def get_run_report(self, run_id: str) -> dict[str, Any]:
        """The report of a run: ``status`` (SUCCESS, FAILED, RUNNING) and one entry per task with its
        ``status`` (SUCCESS, FAILED, SKIPPED, RUNNING, PENDING), ``attempt``, times, ``error``, ``result``."""
        return self._runner.report(run_id)

    async def load_run_report(self, run_id: str) -> dict[str, Any]:
        """``get_run_report``, also for runs of other processes (or before a restart) kept in the store."""
        return await self._runner.load_report(run_id)

    async def __aenter__(self) -> Self:
        await self._runner.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._runner.close(exc_type, exc, tb)

    async def aclose(self) -> None:
        """Release the thread pool and what the engine made; later runs make them again. Closing a closed
        pipeline does nothing."""
        await self._runner.aclose()

    def __repr__(self) -> str:
        return f"Pipeline({self._name!r}, tasks={list(self._registry)!r})"


def _retry_policy(task: str, retries: int, retry: RetryPolicy | None) -> RetryPolicy | None:
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f'task "{task}": retries must be an integer >= 0, not {retries!r}')
    if retry is None:
        return RetryPolicy(max_attempts=retries + 1) if retries else None
    if not isinstance(retry, RetryPolicy):
        raise TypeError(f'task "{task}": retry must be a RetryPolicy, not {retry!r}')
    if retries and retries != retry.max_attempts - 1:
        raise ValueError(
            f'task "{task}": retries={retries} disagrees with retry.max_attempts={retry.max_attempts}; '
            "give one of them"
        )
    return retry


def _check_timeout(task: str, fn: Callable[..., Any], timeout_s: float | None) -> None:
    if timeout_s is None:
        return
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not timeout_s > 0:
        raise ValueError(f'task "{task}": timeout_s must be a positive number of seconds, not {timeout_s!r}')
    if not is_async_callable(fn):
        raise ValueError(
            f'task "{task}": timeout_s is for async tasks only. A synchronous function runs on a thread, '
            "which cannot be stopped from outside: set a timeout in the client or library it calls, check "
            "RunContext.raise_if_cancelled(), or make it async"
        )


def _mark(fn: Callable[..., Any], mark: _Mark) -> None:
    marks = getattr(fn, _MARK, None)
    if isinstance(marks, list):
        marks.append(mark)
        return
    try:
        setattr(fn, _MARK, [mark])
    except (AttributeError, TypeError):  # a callable that takes no attributes: only its pipeline knows it
        pass


def _override(spec: TaskSpec, value: Any) -> TaskSpec:
    if callable(value):
        fn: Callable[..., Any] = value
    else:

        async def fn() -> Any:
            return value

    return build_spec(
        name=spec.name,
        fn=fn,
        deps=spec.deps,
        registered=(),
        timeout_s=spec.timeout_s if is_async_callable(fn) else None,
        retry=spec.retry,
        foreign=spec.foreign,
        local=spec.local,
    )
