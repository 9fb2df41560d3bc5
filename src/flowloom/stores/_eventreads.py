"""``SqlStore.query_events``: a run's events by type, node and sequence range (see ``ir.EventQuery``).

Where the SQL does the work: a node's log lines are an index range (``ix_events_node_logs``: rows of one
node's lines, see ``_ledger``), and so are the other events (``ix_events_other``: rows with no node), which
a read that wants no log lines takes, however many lines the run logged. Types to include or leave out are a
condition on ``type`` (``NodeLog`` for rows of log lines); blocks of other events (``*``) are expanded and
filtered here. Rows come in growing chunks until ``limit`` events matched."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowloom.ir import LOG_EVENT, EventQuery, EventRow

from . import _schema as t
from ._ledger import BLOCK_TYPE, LOG_BLOCK, expand

_FIRST_CHUNK = 64  # rows of the first read, unless they are rows of log lines
_CHUNK = 512  # rows per read at most


def _conditions(run_id: str, query: EventQuery) -> list[Any]:
    e = t.events.c
    where: list[Any] = [e.run_id == run_id, e.seq > query.after]
    if query.logs_of_one_node:
        where.append(e.node_id == query.node_id)
        if query.before is not None:  # a row ends at most LOG_BLOCK - 1 events after its first
            where.append(e.seq < query.before + LOG_BLOCK - 1)
        return where
    if not query.wants_type(LOG_EVENT):  # rows of other events: an index of their own
        where.append(e.node_id.is_(None))
    if query.types is not None:
        where.append(e.type.in_(sorted(query.types | {BLOCK_TYPE})))
    if query.exclude:
        where.append(e.type.not_in(sorted(query.exclude - {BLOCK_TYPE})))
    if query.node_id is not None:  # another node's log lines are left out; other events are read
        where.append(sa.or_(e.type != LOG_EVENT, e.node_id.is_(None), e.node_id == query.node_id))
    if query.before is not None:  # the row's first event comes before `before`
        where.append(e.seq - e.n_events < query.before - 1)
    return where


def _index(query: EventQuery) -> str | None:
    """The index that answers ``query``, if one does (see ``_conditions``)."""
    if query.logs_of_one_node:
        return "ix_events_node_logs"
    return None if query.wants_type(LOG_EVENT) else "ix_events_other"


def _hinted(c: Connection, select: sa.Select[Any], index: str) -> list[Any]:
    """``select`` on SQLite through ``index`` by name: without statistics its planner may take the primary
    key's ``seq`` range instead, and SQLAlchemy has no SQLite table hints."""
    compiled = select.compile(dialect=c.dialect, compile_kwargs={"render_postcompile": True})
    sql = str(compiled).replace("FROM events", f"FROM events INDEXED BY {index}", 1)
    params = compiled.params
    return list(c.exec_driver_sql(sql, tuple(params[name] for name in compiled.positiontup or ())).all())


def sql_query_events(c: Connection, run_id: str, query: EventQuery, limit: int | None) -> list[EventRow]:
    e = t.events.c
    select = sa.select(e.run_id, e.seq, e.type, e.data, e.at, e.n_events).where(*_conditions(run_id, query))
    index = _index(query) if c.dialect.name == "sqlite" else None

    def rows(cursor: int | None, size: int | None) -> list[Any]:
        step = select
        if cursor is not None:
            step = step.where(e.seq < cursor if query.newest else e.seq > cursor)
        step = step.order_by(e.seq.desc() if query.newest else e.seq).limit(size)
        return _hinted(c, step, index) if index is not None else list(c.execute(step).all())

    if limit is None:
        found = rows(None, None)
        return [event for row in found for event in expand(row, query.after, query)]
    chunks: list[list[EventRow]] = []
    count = 0
    cursor: int | None = None  # the seq of the last row read
    # a row holds one event or a block: read a few rows, then more (a row of log lines may be a page)
    size = 1 if query.logs_of_one_node else min(limit, _FIRST_CHUNK)
    while count < limit:
        found = rows(cursor, size)
        for row in found:
            events = expand(row, query.after, query)
            if events:
                chunks.append(events)
                count += len(events)
        if len(found) < size:
            break
        cursor = found[-1][1]
        size = min(size * 4, _CHUNK)
    if query.newest:
        return [event for chunk in reversed(chunks) for event in chunk][-limit:]
    return [event for chunk in chunks for event in chunk][:limit]
