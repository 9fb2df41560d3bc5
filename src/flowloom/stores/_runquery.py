"""The runs page's queries (``RunQuery``): filtered, keyset-paginated run listings, status counts and the
workflows runs were started with, in SQL (SQLAlchemy Core; ``_runmatch`` has the same over rows in
memory)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowloom.ir import RunQuery, RunRow, Status, WorkflowSeen

from . import _schema as t
from ._queries import _run_row

_NEWEST_FIRST = (t.runs.c.created_at.desc(), t.runs.c.id.desc())


def _like_escaped(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _conditions(query: RunQuery) -> list[sa.ColumnElement[bool]]:
    runs = t.runs.c
    found: list[sa.ColumnElement[bool]] = []
    if query.statuses:
        found.append(runs.status.in_([status.value for status in query.statuses]))
    if query.workflow_hash is not None:
        found.append(runs.workflow_hash == query.workflow_hash)
    if query.created_from is not None:
        found.append(runs.created_at >= query.created_from)
    if query.created_to is not None:
        found.append(runs.created_at < query.created_to)
    if query.text:
        pattern = _like_escaped(query.text)
        found.append(sa.or_(runs.id.like(pattern, escape="\\"), runs.inputs.like(pattern, escape="\\")))
    if query.before is not None:
        at, run_id = query.before.created_at, query.before.id
        # written out (not a row value) so both SQLite and PostgreSQL walk the (created_at, id) index
        found.append(
            sa.or_(runs.created_at < at, sa.and_(runs.created_at == at, runs.id < run_id)),
        )
    return found


def sql_query_runs(c: Connection, query: RunQuery, limit: int) -> list[RunRow]:
    statement = sa.select(t.runs).where(*_conditions(query)).order_by(*_NEWEST_FIRST).limit(limit)
    return [_run_row(row) for row in c.execute(statement)]


def sql_count_by_status(c: Connection, query: RunQuery) -> dict[Status, int]:
    statement = (
        sa.select(t.runs.c.status, sa.func.count())
        .where(*_conditions(query.without_statuses()))
        .group_by(t.runs.c.status)
    )
    return {Status(status): int(count) for status, count in c.execute(statement)}


def sql_list_workflows(c: Connection, limit: int) -> list[WorkflowSeen]:
    runs = t.runs.c
    last = sa.func.max(runs.created_at)
    statement = (
        sa.select(runs.workflow_hash, sa.func.count(), last)
        .group_by(runs.workflow_hash)
        .order_by(last.desc())
        .limit(limit)
    )
    return [
        WorkflowSeen(hash=digest, runs=int(count), last_run_at=float(at))
        for digest, count, at in c.execute(statement)
    ]
