"""``RunQuery`` over rows in memory (``MemoryStore``): the same answers as ``_runquery``'s SQL, without
importing SQLAlchemy."""

from __future__ import annotations

from collections.abc import Iterable

from flowloom.ir import RunQuery, RunRow, WorkflowSeen


def matches(run: RunRow, inputs_text: str, query: RunQuery) -> bool:
    """Whether a run matches ``query`` (``inputs_text``: its inputs' JSON, as SQL stores hold them)."""
    if query.statuses and run.status not in query.statuses:
        return False
    if query.workflow_hash is not None and run.workflow_hash != query.workflow_hash:
        return False
    if query.created_from is not None and run.created_at < query.created_from:
        return False
    if query.created_to is not None and run.created_at >= query.created_to:
        return False
    if query.text and query.text not in run.id and query.text not in inputs_text:
        return False
    before = query.before
    return before is None or (run.created_at, run.id) < (before.created_at, before.id)


def workflows_seen(runs: Iterable[RunRow], limit: int) -> list[WorkflowSeen]:
    counts: dict[str, int] = {}
    last: dict[str, float] = {}
    for run in runs:
        counts[run.workflow_hash] = counts.get(run.workflow_hash, 0) + 1
        last[run.workflow_hash] = max(last.get(run.workflow_hash, run.created_at), run.created_at)
    newest = sorted(counts, key=lambda digest: last[digest], reverse=True)[:limit]
    return [WorkflowSeen(hash=digest, runs=counts[digest], last_run_at=last[digest]) for digest in newest]
