"""Event blocks: one ``events`` row may hold several consecutive events of a run (``n_events`` of them, ending
at ``seq``), so a flush of many transitions writes one ledger row per run instead of one per event. Existing
rows are single events (``n_events = 1``). See ``flowloom.stores._ledger``.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("events", sa.Column("n_events", sa.Integer, nullable=False, server_default="1"))


def downgrade() -> None:
    """Blocks are split back into one row per event, then the column goes."""
    bind = op.get_bind()
    events = sa.table(
        "events",
        sa.column("run_id"),
        sa.column("seq"),
        sa.column("type"),
        sa.column("data"),
        sa.column("at"),
        sa.column("n_events"),
    )
    blocks = bind.execute(sa.select(events).where(events.c.n_events > 1)).all()
    for block in blocks:
        first = block.seq - block.n_events + 1
        rows = [
            {"run_id": block.run_id, "seq": first + i, "type": kind, "data": json.dumps(data), "at": at}
            for i, (kind, data, at) in enumerate(json.loads(block.data))
        ]
        bind.execute(events.delete().where(events.c.run_id == block.run_id, events.c.seq == block.seq))
        bind.execute(events.insert(), rows)
    op.drop_column("events", "n_events")
