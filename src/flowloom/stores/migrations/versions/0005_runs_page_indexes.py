"""Indexes for the runs page (filters and keyset pagination, newest first by ``(created_at, id)``): the
listing indexes become ``(created_at, id)`` and ``(status, created_at, id)``, so a page after a cursor is a
range of one index; runs of one workflow get ``(workflow_hash, created_at)``.

Revision ID: 0005_runs_page
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005_runs_page"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_runs_created_at_id", "runs", ["created_at", "id"])
    op.drop_index("ix_runs_created_at", "runs")
    op.create_index("ix_runs_status_created_at_id", "runs", ["status", "created_at", "id"])
    op.drop_index("ix_runs_status_created_at", "runs")
    op.create_index("ix_runs_workflow_hash_created_at", "runs", ["workflow_hash", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_workflow_hash_created_at", "runs")
    op.create_index("ix_runs_status_created_at", "runs", ["status", "created_at"])
    op.drop_index("ix_runs_status_created_at_id", "runs")
    op.create_index("ix_runs_created_at", "runs", ["created_at"])
    op.drop_index("ix_runs_created_at_id", "runs")
