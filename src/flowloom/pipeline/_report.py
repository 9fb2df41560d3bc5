"""The run report: a plain dict with the run's status and one entry per task."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from flowloom.ir import NodeReport, Status

from ._compile import RESULT_KEY
from ._runs import RunState


class TaskStatus(StrEnum):
    """A task's status in a run report."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    WAITING = "WAITING"  # for an answer (``RunContext.wait_for_input``)


FROM_ENGINE = {  # a task's status in reports, from its node's
    Status.PENDING: TaskStatus.PENDING,
    Status.PROCESSING: TaskStatus.RUNNING,
    Status.SUCCEEDED: TaskStatus.SUCCESS,
    Status.FAILED: TaskStatus.FAILED,
    Status.SKIPPED: TaskStatus.SKIPPED,
    Status.CANCELED: TaskStatus.FAILED,
    Status.WAITING: TaskStatus.WAITING,
}
UPSTREAM_FAILED = "upstream_failed"
PLACEHOLDER_KEY = "__unserializable__"  # how flowloom.stores keeps a value that is not JSON (a test pins it)
_UNCHECKED: Any = object()


def run_status(statuses: list[str]) -> TaskStatus:
    """SUCCESS when every task succeeded, FAILED when any failed or was skipped, WAITING when a task waits
    for an answer (and none runs), RUNNING otherwise."""
    if all(status == TaskStatus.SUCCESS for status in statuses):
        return TaskStatus.SUCCESS
    if TaskStatus.WAITING in statuses and TaskStatus.RUNNING not in statuses:
        return TaskStatus.WAITING
    if any(status in (TaskStatus.FAILED, TaskStatus.SKIPPED) for status in statuses):
        return TaskStatus.FAILED
    return TaskStatus.RUNNING


def task_entry(
    status: str,
    *,
    attempt: int = 0,
    started_at: float | None = None,
    finished_at: float | None = None,
    error: str | None = None,
    result: Any = None,
    note: str | None = _UNCHECKED,
) -> dict[str, Any]:
    """A task's report entry; ``result_note`` (``note``: ``unstorable_note(result)`` unless given) only when
    the result cannot be stored as it is."""
    entry = {
        "status": str(status),
        "attempt": attempt,
        "started_at": started_at,
        "finished_at": finished_at,
        "error": error,
        "result": result,
    }
    if note is _UNCHECKED:
        note = unstorable_note(result)
    if note is not None:
        entry["result_note"] = note
    return entry


def unstorable_note(value: Any) -> str | None:
    """Why ``value`` cannot be stored as JSON, or ``None`` when it can."""
    try:
        json.dumps(value, default=_refuse)
    except (TypeError, ValueError, RecursionError) as exc:
        return f"{exc}: passed on to dependent tasks in memory; a store keeps a placeholder"
    placeholder = find_placeholder(value)
    if placeholder is not None:
        return (
            f"not JSON-serializable ({placeholder}): the store kept a placeholder; the task runs again "
            "when a resumed run needs its result"
        )
    return None


def find_placeholder(value: Any) -> str | None:
    """The type name in the first placeholder a store put in ``value`` for a part that was not JSON."""
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            if len(item) == 1 and PLACEHOLDER_KEY in item:
                return str(item[PLACEHOLDER_KEY])
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return None


def skip_error(name: str, deps: Sequence[str], tasks: Mapping[str, Mapping[str, Any]]) -> str:
    """``upstream_failed: <the dependencies that did not succeed>``."""
    blocked = [dep for dep in deps if tasks.get(dep, {}).get("status") != TaskStatus.SUCCESS]
    return f"{UPSTREAM_FAILED}: {', '.join(blocked)}" if blocked else UPSTREAM_FAILED


def _refuse(value: Any) -> Any:
    raise TypeError(f"not JSON-serializable ({type(value).__name__})")


def build_report(state: RunState) -> dict[str, Any]:
    """The report of a run this process started (in flight or ended)."""
    run = state.run
    engine = run.report() if run is not None else None
    nodes: Mapping[str, NodeReport] = engine.reports if engine is not None else {}
    ended = run is not None and run.done and run.status is not Status.WAITING
    tasks: dict[str, dict[str, Any]] = {}
    for name in state.tasks:
        kept = state.preset.get(name)
        if kept is not None:
            tasks[name] = dict(kept)
            continue
        node = nodes.get(name)
        if node is None:  # never started; in an ended run, because the run was canceled
            status = TaskStatus.SKIPPED if ended else TaskStatus.PENDING
            tasks[name] = task_entry(status, error=f"run {state.control.reason}" if ended else None)
            continue
        status = FROM_ENGINE[node.status]
        error = node.snapshots[-1].error if node.snapshots else None
        if node.status is Status.CANCELED:
            error = f"run {state.control.reason}"
        elif status is TaskStatus.SKIPPED:
            error = skip_error(name, state.specs[name].deps, tasks)
        attempt = state.attempts.get(name, 0)
        result = state.results.get(name) if status is TaskStatus.SUCCESS else None
        restored = state.restored.get(name)
        if restored is not None and status is TaskStatus.SUCCESS and name not in state.attempts:
            attempt = restored.attempt  # restored from the store, not run again
            result = restored.outputs.get(RESULT_KEY) if isinstance(restored.outputs, dict) else None
        if run is not None and run.records.masker:  # a secret the run read (context.secret) shows as ***
            result = run.records.masker.value(result)
        note = None
        if status is TaskStatus.SUCCESS:  # the result is final: its note is worked out once (it walks it)
            note = state.notes.get(name, _UNCHECKED)
            if note is _UNCHECKED:
                note = state.notes[name] = unstorable_note(result)
        tasks[name] = task_entry(
            status,
            attempt=attempt,
            started_at=seconds(node.start_time),
            finished_at=seconds(node.end_time) if status is not TaskStatus.RUNNING else None,
            error=error,
            result=result,
            note=note,
        )
    finished_at = None
    if ended and engine is not None:
        finished_at = seconds(engine.workflow_status.end_time)
    report: dict[str, Any] = {
        "run_id": state.run_id,
        "dag_name": state.dag_name,
        "metadata": dict(state.context.metadata),
        "created_at": state.created_at,
        "finished_at": finished_at,
        "status": str(run_status([entry["status"] for entry in tasks.values()])),
        "tasks": tasks,
    }
    if state.resumed_from is not None:
        report["resumed_from"] = state.resumed_from
    return report


def seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000
