"""Trigger fires: a ``trigger_fires`` table, one row per (saved workflow, trigger, tick) that fired. Its
primary key makes a claim exclusive: among servers sharing the database, the one whose row is stored starts
the run; each trigger's newest row says which tick fired last (a tick missed while no server ran fires once).

Revision ID: 0009
Revises: 0008_ledger_node_index
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008_ledger_node_index"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "trigger_fires",
        sa.Column("workflow_id", sa.String(256), primary_key=True),
        sa.Column("trigger_key", sa.String(256), primary_key=True),
        sa.Column("tick", sa.Double, primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("fired_at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("trigger_fires")
