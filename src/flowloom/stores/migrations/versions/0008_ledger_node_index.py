"""Log lines indexed by node: an ``events`` row holding only one node's ``NodeLog`` events names the node
(``node_id``; NULL in every other row); a partial index over ``(run_id, node_id, seq)`` of those rows
finds a node's log tail or a page of its lines without reading the run's other events, and one over
``(run_id, seq)`` of the other rows finds a run's events without its log lines. Rows written before
are laid out so too: a block holding log lines is split into rows of lines of one node and rows of the
other events (the same events, the same numbers). See ``flowloom.stores._ledger``.

Revision ID: 0008_ledger_node_index
Revises: 0006
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008_ledger_node_index"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_LOG_ROWS = sa.text("node_id IS NOT NULL")
_OTHER_ROWS = sa.text("node_id IS NULL")
_LOG = "NodeLog"
_LOG_BLOCK = 256
_EVENTS = sa.table(
    "events",
    sa.column("run_id"),
    sa.column("seq"),
    sa.column("type"),
    sa.column("data"),
    sa.column("at"),
    sa.column("n_events"),
    sa.column("node_id"),
)


def _node_of(kind: str, data: Any) -> str | None:
    node_id = data.get("node_id") if kind == _LOG and isinstance(data, dict) else None
    return node_id if isinstance(node_id, str) else None


def _rows(run_id: str, first: int, events: list[tuple[str, Any, float]]) -> list[dict[str, Any]]:
    """The rows of a run's consecutive events from ``first``, log lines apart (as ``_ledger.ledger_rows``)."""
    rows = []
    i = 0
    while i < len(events):
        node_id = _node_of(*events[i][:2])
        j = i + 1
        while (
            j < len(events)
            and (
                _node_of(*events[j][:2]) == node_id
                if node_id is not None
                else _node_of(*events[j][:2]) is None
            )
            and (node_id is None or j - i < _LOG_BLOCK)
        ):
            j += 1
        part = events[i:j]
        seq = first + j - 1
        if len(part) == 1:
            kind, data, at = part[0]
            rows.append({"run_id": run_id, "seq": seq, "type": kind, "data": json.dumps(data), "at": at,
                         "n_events": 1, "node_id": node_id})  # fmt: skip
        else:
            rows.append({"run_id": run_id, "seq": seq, "type": "*" if node_id is None else _LOG,
                         "data": json.dumps([list(event) for event in part]), "at": part[-1][2],
                         "n_events": len(part), "node_id": node_id})  # fmt: skip
        i = j
    return rows


def _split_log_rows() -> None:
    bind = op.get_bind()
    e = _EVENTS.c
    found = bind.execute(
        sa.select(_EVENTS).where(
            sa.or_(e.type == _LOG, sa.and_(e.n_events > 1, e.data.contains(f'"{_LOG}"')))
        )
    ).all()
    for row in found:
        if row.n_events == 1:
            events = [(row.type, json.loads(row.data), row.at)]
        else:
            events = [(kind, data, at) for kind, data, at in json.loads(row.data)]
        rows = _rows(row.run_id, row.seq - row.n_events + 1, events)
        bind.execute(_EVENTS.delete().where(e.run_id == row.run_id, e.seq == row.seq))
        bind.execute(_EVENTS.insert(), rows)


def upgrade() -> None:
    op.add_column("events", sa.Column("node_id", sa.String(256)))
    op.create_index(
        "ix_events_node_logs",
        "events",
        ["run_id", "node_id", "seq"],
        sqlite_where=_LOG_ROWS,
        postgresql_where=_LOG_ROWS,
    )
    op.create_index(
        "ix_events_other", "events", ["run_id", "seq"], sqlite_where=_OTHER_ROWS, postgresql_where=_OTHER_ROWS
    )
    _split_log_rows()


def downgrade() -> None:
    """The column and index go; the rows stay as they are (an older reader expands any block)."""
    op.drop_index("ix_events_other", "events")
    op.drop_index("ix_events_node_logs", "events")
    op.drop_column("events", "node_id")
