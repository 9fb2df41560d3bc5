"""Run hooks: small synchronous callbacks on a pipeline's run and task events, for alerts, metrics and
tracing. They ride on the engine's event bus; a hook that raises is logged and never breaks a run."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flowloom.ir import (
    Event,
    NodeCanceled,
    NodeFailed,
    NodeRetrying,
    NodeSkipped,
    NodeStarted,
    NodeSucceeded,
    RunFinished,
    RunStarted,
    Status,
)

from ._runs import RunState


@dataclass(frozen=True, slots=True, kw_only=True)
class HookEvent:
    run_id: str
    dag_name: str
    at: float  # time.time()


@dataclass(frozen=True, slots=True, kw_only=True)
class DagStartEvent(HookEvent):
    metadata: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class DagEndEvent(HookEvent):
    status: str  # SUCCESS or FAILED
    duration_s: float
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskEvent(HookEvent):
    task_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskStartEvent(TaskEvent):
    """An attempt of a task started: its first, and each retry (``attempt`` counts from 1)."""

    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSuccessEvent(TaskEvent):
    attempt: int
    duration_s: float
    result: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskFailureEvent(TaskEvent):
    """A task failed for good (after its retries), timed out, or was canceled with its run."""

    attempt: int
    duration_s: float
    error: str
    exception: BaseException | None = None  # what the task raised, when it raised


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRetryEvent(TaskEvent):
    attempt: int  # the attempt that failed
    next_attempt: int
    max_attempts: int
    delay_s: float
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSkipEvent(TaskEvent):
    reason: str


class RunHook:
    """Subclass and override what you need; every method does nothing by default."""

    def on_dag_start(self, event: DagStartEvent) -> None:
        """A run started."""

    def on_dag_end(self, event: DagEndEvent) -> None:
        """A run ended (succeeded, failed or canceled)."""

    def on_task_start(self, event: TaskStartEvent) -> None:
        """An attempt of a task started (once more after each retry)."""

    def on_task_success(self, event: TaskSuccessEvent) -> None:
        """A task succeeded."""

    def on_task_failure(self, event: TaskFailureEvent) -> None:
        """A task failed for good."""

    def on_task_retry(self, event: TaskRetryEvent) -> None:
        """An attempt of a task failed and it will be tried again."""

    def on_task_skip(self, event: TaskSkipEvent) -> None:
        """A task will not run because a dependency failed."""


HOOK_METHODS = (
    "on_dag_start",
    "on_dag_end",
    "on_task_start",
    "on_task_success",
    "on_task_failure",
    "on_task_retry",
    "on_task_skip",
)


def hook_list(hooks: RunHook | Iterable[RunHook] | None) -> tuple[RunHook, ...]:
    """A pipeline's ``hooks=``: ``None``, one hook, or an iterable of hooks. A hook is a ``RunHook`` or an
    object with some of its methods; ``TypeError`` for anything else."""
    found: tuple[Any, ...]
    if hooks is None:
        return ()
    if _is_hook(hooks):
        found = (hooks,)
    elif isinstance(hooks, str | bytes) or not isinstance(hooks, Iterable):
        raise TypeError(f"hooks must be a hook or a list of hooks (RunHook, fn_hook(...)), not {hooks!r}")
    else:
        found = tuple(hooks)
    for hook in found:
        if isinstance(hook, type):
            name = hook.__name__
            raise TypeError(f"hooks takes hook objects, not the class {name}: pass {name}()")
        if not _is_hook(hook):
            raise TypeError(
                f"{hook!r} is not a hook: a hook is a RunHook (or has some of its on_dag_start, "
                "on_task_failure, ... methods); fn_hook(...) makes one from functions"
            )
    return found


def _is_hook(value: object) -> bool:
    return isinstance(value, RunHook) or any(callable(getattr(value, name, None)) for name in HOOK_METHODS)


class _FnHook(RunHook):
    def __init__(self, callbacks: Mapping[str, Callable[[Any], object] | None]) -> None:
        self._names = [name for name, fn in callbacks.items() if fn is not None]
        for name in self._names:
            setattr(self, name, callbacks[name])  # an instance attribute in place of the no-op method

    def __repr__(self) -> str:
        return f"fn_hook({', '.join(self._names)})"


def fn_hook(
    *,
    on_dag_start: Callable[[DagStartEvent], object] | None = None,
    on_dag_end: Callable[[DagEndEvent], object] | None = None,
    on_task_start: Callable[[TaskStartEvent], object] | None = None,
    on_task_success: Callable[[TaskSuccessEvent], object] | None = None,
    on_task_failure: Callable[[TaskFailureEvent], object] | None = None,
    on_task_retry: Callable[[TaskRetryEvent], object] | None = None,
    on_task_skip: Callable[[TaskSkipEvent], object] | None = None,
) -> RunHook:
    """A hook made of plain functions (lambdas welcome), one per event you care about."""
    return _FnHook(
        {
            "on_dag_start": on_dag_start,
            "on_dag_end": on_dag_end,
            "on_task_start": on_task_start,
            "on_task_success": on_task_success,
            "on_task_failure": on_task_failure,
            "on_task_retry": on_task_retry,
            "on_task_skip": on_task_skip,
        }
    )


class HookDispatcher:
    """An event-bus listener: turns engine events of this pipeline's runs into hook calls.

    The engine announces a node's start once (``NodeStarted``), not each attempt of it: the task executor
    reports the later attempts through ``attempt_started``, so hooks see start(1), retry, start(2), ...
    """

    def __init__(
        self, hooks: Sequence[RunHook], runs: Mapping[str, RunState], logger: logging.Logger
    ) -> None:
        self._hooks = tuple(hooks)
        self._runs = runs
        self._logger = logger
        self._started: dict[tuple[str, str], float] = {}

    def __call__(self, event: Event) -> None:
        state = self._runs.get(event.run_id)
        if state is None:
            return
        translated = self._translate(event, state)
        if translated is not None:
            method, hook_event = translated
            self._call(method, hook_event)

    def attempt_started(self, state: RunState, name: str, attempt: int) -> None:
        """Attempt ``attempt`` (> 1) of task ``name`` is starting: called by the task executor."""
        event = TaskStartEvent(
            run_id=state.run_id, dag_name=state.dag_name, at=time.time(), task_name=name, attempt=attempt
        )
        self._call("on_task_start", event)

    def _translate(self, event: Event, state: RunState) -> tuple[str, HookEvent] | None:
        base: dict[str, Any] = {"run_id": event.run_id, "dag_name": state.dag_name, "at": event.at}
        if isinstance(event, RunStarted):
            return "on_dag_start", DagStartEvent(**base, metadata=state.context.metadata)
        if isinstance(event, RunFinished):
            ok = event.status is Status.SUCCEEDED
            error = f"run {state.control.reason}" if event.status is Status.CANCELED else event.error
            return "on_dag_end", DagEndEvent(
                **base,
                status="SUCCESS" if ok else "FAILED",
                duration_s=max(0.0, event.at - state.created_at),
                error=error,
            )
        if not isinstance(
            event, NodeStarted | NodeSucceeded | NodeFailed | NodeRetrying | NodeSkipped | NodeCanceled
        ):
            return None
        name = event.node_id
        task: dict[str, Any] = {**base, "task_name": name}
        attempt = state.attempts.get(name, 0)
        if isinstance(event, NodeStarted):
            self._started[event.run_id, name] = event.at
            return "on_task_start", TaskStartEvent(**task, attempt=event.attempt)
        if isinstance(event, NodeSucceeded):
            self._started.pop((event.run_id, name), None)
            result = state.results.get(name)
            return "on_task_success", TaskSuccessEvent(
                **task, attempt=attempt, duration_s=event.duration_s, result=result
            )
        if isinstance(event, NodeFailed):
            self._started.pop((event.run_id, name), None)
            return "on_task_failure", TaskFailureEvent(
                **task,
                attempt=event.attempt,
                duration_s=event.duration_s,
                error=event.error,
                exception=state.exceptions.get(name),
            )
        if isinstance(event, NodeRetrying):
            spec = state.specs[name]
            return "on_task_retry", TaskRetryEvent(
                **task,
                attempt=event.attempt,
                next_attempt=event.attempt + 1,
                max_attempts=spec.retries + 1,
                delay_s=event.delay_s,
                error=event.error,
            )
        if isinstance(event, NodeSkipped):
            return "on_task_skip", TaskSkipEvent(**task, reason=str(event.reason))
        started = self._started.pop((event.run_id, name), event.at)
        return "on_task_failure", TaskFailureEvent(
            **task, attempt=attempt, duration_s=event.at - started, error=f"run {state.control.reason}"
        )

    def _call(self, method: str, event: HookEvent) -> None:
        for hook in self._hooks:
            call = getattr(hook, method, None)
            if call is None:  # a hook that is not a RunHook need not have every method
                continue
            try:
                call(event)
            except Exception:
                self._logger.exception("hook %r failed in %s (the run goes on)", hook, method)


class LoggingHook(RunHook):
    """What a pipeline logs: INFO for run start and end, task success, retries and skips; WARNING for
    failures and timeouts; DEBUG for task launches."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def on_dag_start(self, event: DagStartEvent) -> None:
        self.logger.info("DAG %r started  run_id=%s", event.dag_name, event.run_id)

    def on_dag_end(self, event: DagEndEvent) -> None:
        self.logger.info(
            "DAG %r finished  run_id=%s  status=%s  duration=%.3fs",
            event.dag_name,
            event.run_id,
            event.status,
            event.duration_s,
        )

    def on_task_start(self, event: TaskStartEvent) -> None:
        self.logger.debug(
            "Launching task %r  run_id=%s  attempt=%d", event.task_name, event.run_id, event.attempt
        )

    def on_task_success(self, event: TaskSuccessEvent) -> None:
        self.logger.info(
            "Task %r succeeded  run_id=%s  attempt=%d  duration=%.3fs",
            event.task_name,
            event.run_id,
            event.attempt,
            event.duration_s,
        )

    def on_task_failure(self, event: TaskFailureEvent) -> None:
        self.logger.warning(
            "Task %r failed  run_id=%s  attempt=%d  error=%s",
            event.task_name,
            event.run_id,
            event.attempt,
            event.error,
            exc_info=event.exception if self.logger.isEnabledFor(logging.DEBUG) else None,
        )

    def on_task_retry(self, event: TaskRetryEvent) -> None:
        self.logger.info(
            "Retrying task %r  run_id=%s  attempt=%d/%d in %.3fs  error=%s",
            event.task_name,
            event.run_id,
            event.next_attempt,
            event.max_attempts,
            event.delay_s,
            event.error,
        )

    def on_task_skip(self, event: TaskSkipEvent) -> None:
        self.logger.info(
            "Skipping task %r  run_id=%s  reason=%s", event.task_name, event.run_id, event.reason
        )
