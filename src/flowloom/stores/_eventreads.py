"""``SqlStore.query_events``: a run's events by type, node and sequence range (see ``ir.EventQuery``).

Where the SQL does the work: a node's log lines are an index range (``ix_events_node_logs``: rows of one
node's lines, see ``_ledger``); types to include or leave out are a condition on ``type``, which for rows of
log lines is ``NodeLog``, so a read without log lines skips those rows without reading their data (``type``
comes before ``data`` in a row; ``node_id`` after it, so the filters read it last). Blocks of other events
(``*``) are expanded and filtered here. Rows come in chunks until ``limit`` events matched."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowloom.ir import LOG_EVENT, EventQuery, EventRow

from . import _schema as t
from ._ledger import BLOCK_TYPE, LOG_BLOCK, expand

_CHUNK = 256  # rows per read while fewer than `limit` events matched


def _conditions(run_id: str, query: EventQuery) -> list[Any]:
    e = t.events.c
    where: list[Any] = [e.run_id == run_id, e.seq > query.after]
    if query.logs_of_one_node:
        where.append(e.node_id == query.node_id)
        if query.before is not None:  # a row ends at most LOG_BLOCK - 1 events after its first
            where.append(e.seq < query.before + LOG_BLOCK - 1)
        return where
    if query.types is not None:
        where.append(e.type.in_(sorted(query.types | {BLOCK_TYPE})))
    if query.exclude:
        where.append(e.type.not_in(sorted(query.exclude - {BLOCK_TYPE})))
    if query.node_id is not None:  # another node's log lines are left out; other events are read
        where.append(sa.or_(e.type != LOG_EVENT, e.node_id.is_(None), e.node_id == query.node_id))
    if query.before is not None:  # the row's first event comes before `before`
        where.append(e.seq - e.n_events < query.before - 1)
    return where


_COLUMNS = "run_id, seq, type, data, at, n_events"


def _node_logs_sqlite(run_id: str, query: EventQuery, cursor: int | None, size: int | None) -> sa.TextClause:
    """A node's log lines on SQLite, through their index by name: without statistics its planner may
    take the primary key's ``seq`` range instead (SQLAlchemy has no SQLite table hints)."""
    params: dict[str, Any] = {"run_id": run_id, "node_id": query.node_id, "after": query.after}
    where = "run_id = :run_id AND node_id = :node_id AND seq > :after"
    if query.before is not None:
        where += " AND seq < :before"
        params["before"] = query.before + LOG_BLOCK - 1
    if cursor is not None:
        where += " AND seq < :cursor" if query.newest else " AND seq > :cursor"
        params["cursor"] = cursor
    order = "seq DESC" if query.newest else "seq"
    limit = "" if size is None else f" LIMIT {int(size)}"
    sql = (
        f"SELECT {_COLUMNS} FROM events INDEXED BY ix_events_node_logs WHERE {where} ORDER BY {order}{limit}"
    )
    return sa.text(sql).bindparams(**params)


def sql_query_events(c: Connection, run_id: str, query: EventQuery, limit: int | None) -> list[EventRow]:
    e = t.events.c
    select = sa.select(e.run_id, e.seq, e.type, e.data, e.at, e.n_events).where(*_conditions(run_id, query))
    by_name = query.logs_of_one_node and c.dialect.name == "sqlite"

    def rows(cursor: int | None, size: int | None) -> list[Any]:
        if by_name:
            return list(c.execute(_node_logs_sqlite(run_id, query, cursor, size)).all())
        step = select
        if cursor is not None:
            step = step.where(e.seq < cursor if query.newest else e.seq > cursor)
        return list(c.execute(step.order_by(e.seq.desc() if query.newest else e.seq).limit(size)).all())

    if limit is None:
        found = rows(None, None)
        return [event for row in found for event in expand(row, query.after, query)]
    chunks: list[list[EventRow]] = []
    count = 0
    cursor: int | None = None  # the seq of the last row read
    while count < limit:
        size = max(limit, _CHUNK) if cursor is not None else limit  # a row may hold no wanted event
        found = rows(cursor, size)
        for row in found:
            events = expand(row, query.after, query)
            if events:
                chunks.append(events)
                count += len(events)
        if len(found) < size:
            break
        cursor = found[-1][1]
    if query.newest:
        return [event for chunk in reversed(chunks) for event in chunk][-limit:]
    return [event for chunk in chunks for event in chunk][:limit]
