"""Durable waits: a ``waits`` table, one row per wait of a run (``run_id``, ``key``), open until it is
answered once with its payload. Runs may now have the status ``waiting`` (the column is free text).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "waits",
        sa.Column("run_id", sa.String(128), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(256), primary_key=True),
        sa.Column("node_id", sa.String(256), nullable=False),
        sa.Column("scope", sa.String(256), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("prompt", sa.Text),
        sa.Column("choices", sa.Text, nullable=False),
        sa.Column("until", sa.Double),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("answered_at", sa.Double),
    )
    op.create_index("ix_waits_status_until", "waits", ["status", "until"])


def downgrade() -> None:
    op.drop_index("ix_waits_status_until", table_name="waits")
    op.drop_table("waits")
