"""A leaner hot path: events are numbered from the ledger itself (``max(seq)``), so recording a node no longer
rewrites its run's row (``runs.last_seq`` goes); on SQLite, ``events`` and ``node_records`` become
``WITHOUT ROWID`` tables, clustered on their primary keys, so each write touches one b-tree instead of two.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_ID = sa.String(128)


def _node_records(name: str) -> None:
    op.create_table(
        name,
        sa.Column("run_id", _ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("node_id", sa.String(256), primary_key=True),
        sa.Column("scope", sa.String(256), primary_key=True),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("outputs", sa.Text, nullable=False),
        sa.Column("branch", sa.String(256)),
        sa.Column("error", sa.Text),
        sa.Column("started_at", sa.Double),
        sa.Column("ended_at", sa.Double),
        sa.Column("cached", sa.Boolean, nullable=False),
        sqlite_with_rowid=False,
    )


def _events(name: str) -> None:
    op.create_table(
        name,
        sa.Column("run_id", _ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sqlite_with_rowid=False,
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # rebuilt under new names, filled, and renamed: nothing references these two tables. SQLite's own
        # DROP COLUMN keeps the runs table (rebuilding it would cascade-delete every record).
        for table, create in (("node_records", _node_records), ("events", _events)):
            create(f"{table}_new")
            op.execute(f"INSERT INTO {table}_new SELECT * FROM {table}")
            op.drop_table(table)
            op.rename_table(f"{table}_new", table)
        op.execute("ALTER TABLE runs DROP COLUMN last_seq")
    else:
        op.drop_column("runs", "last_seq")


def downgrade() -> None:
    op.add_column("runs", sa.Column("last_seq", sa.Integer, nullable=False, server_default="0"))
    op.execute(
        "UPDATE runs SET last_seq = coalesce((SELECT max(seq) FROM events WHERE events.run_id = runs.id), 0)"
    )
