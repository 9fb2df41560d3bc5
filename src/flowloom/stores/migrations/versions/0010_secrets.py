"""Run secrets: a ``run_secrets`` table, one row per run that has secrets, holding what a resume needs of
them (the secret inputs, the workflow's secret constants) as one Fernet token. Runs, node records and
events keep ``***`` in their place.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "run_secrets",
        sa.Column("run_id", sa.String(128), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("sealed", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("run_secrets")
