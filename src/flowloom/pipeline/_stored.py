"""Pipeline runs as a store keeps them: their tasks, which ones a resume must run again, and their report,
for runs this process did not start (another process, or before a restart)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flowloom.ir import NodeRow, RunRow, Status

from ._compile import RESULT_KEY, TASK_NODE_TYPE
from ._report import FROM_ENGINE, TaskStatus, find_placeholder, run_status, skip_error, task_entry

PIPELINE_KEY = "pipeline"  # run metadata: the pipeline's name
_ENGINE_KEYS = frozenset({PIPELINE_KEY, "resumed_from", "from_nodes"})


def stored_tasks(document: Any) -> dict[str, tuple[str, ...]]:
    """The tasks of a stored workflow document with their dependencies, dependencies first."""
    nodes = document.get("nodes", []) if isinstance(document, dict) else []
    tasks: dict[str, list[str]] = {node["id"]: [] for node in nodes if node.get("type") == TASK_NODE_TYPE}
    edges = document.get("edges", []) if isinstance(document, dict) else []
    for edge in edges:
        if edge.get("target") in tasks:
            tasks[edge["target"]].append(edge.get("source"))
    return {name: tuple(deps) for name, deps in tasks.items()}


def unstorable_tasks(rows: Sequence[NodeRow]) -> list[str]:
    """Succeeded tasks whose result the store could keep only as a placeholder: a resume runs them again."""
    return [
        row.node_id
        for row in rows
        if row.status is Status.SUCCEEDED
        and row.scope == ()
        and isinstance(row.outputs, dict)
        and find_placeholder(row.outputs.get(RESULT_KEY)) is not None
    ]


def user_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """A recorded run's metadata without what the engine and the pipeline added."""
    return {key: value for key, value in metadata.items() if key not in _ENGINE_KEYS}


def stored_report(row: RunRow, rows: Sequence[NodeRow], document: Any) -> dict[str, Any]:
    """The report of a recorded run (see ``Pipeline.get_run_report``), results as the store kept them."""
    by_task = {node.node_id: node for node in rows if node.scope == ()}
    ended = row.status.terminated
    tasks: dict[str, dict[str, Any]] = {}
    for name, deps in stored_tasks(document).items():
        node = by_task.get(name)
        if node is None:
            status = TaskStatus.SKIPPED if ended else TaskStatus.PENDING
            tasks[name] = task_entry(status, error=f"run {row.status}" if ended else None)
            continue
        status = FROM_ENGINE[node.status]
        error = node.error
        if node.status is Status.CANCELED:
            error = error or "run canceled"
        elif status is TaskStatus.SKIPPED:
            error = skip_error(name, deps, tasks)
        outputs = node.outputs if isinstance(node.outputs, dict) else {}
        tasks[name] = task_entry(
            status,
            attempt=node.attempt,
            started_at=node.started_at,
            finished_at=node.ended_at,
            error=error,
            result=outputs.get(RESULT_KEY) if status is TaskStatus.SUCCESS else None,
        )
    report: dict[str, Any] = {
        "run_id": row.id,
        "dag_name": row.metadata.get(PIPELINE_KEY, ""),
        "metadata": user_metadata(row.metadata),
        "created_at": row.created_at,
        "finished_at": row.ended_at,
        "status": str(run_status([entry["status"] for entry in tasks.values()])),
        "tasks": tasks,
    }
    if row.parent_run_id is not None:
        report["resumed_from"] = row.parent_run_id
    return report
