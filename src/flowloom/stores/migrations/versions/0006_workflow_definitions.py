"""Saved workflows: a ``workflow_definitions`` table, one row per workflow saved under an id (flowengine's
``/api/workflows``, the workflows triggers start), holding its document as given.

Revision ID: 0006
Revises: 0005_runs_page
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005_runs_page"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "workflow_definitions",
        sa.Column("id", sa.String(256), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("format", sa.String(64)),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_index("ix_workflow_definitions_created_at", "workflow_definitions", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_workflow_definitions_created_at", table_name="workflow_definitions")
    op.drop_table("workflow_definitions")
