"""The SQL tables, as SQLAlchemy Core ``Table``s. The database gets them from migrations
(``migrations/versions``), never from ``metadata.create_all``; a test checks the two agree.

JSON values are TEXT (their ``_codec.dumps``), the same on SQLite and PostgreSQL. Times are double-precision
seconds since the epoch. A node's scope is TEXT like ``"2/0"`` (``""`` outside loops). On SQLite, the two
tables written for every node (``node_records``, ``events``) are ``WITHOUT ROWID``: clustered on their
primary keys, one b-tree each. An ``events`` row holds one event or a block of a run's consecutive events
(see ``_ledger``); rows of log lines name their node; partial indexes find a node's lines, and the other rows.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

workflows = sa.Table(
    "workflows",
    metadata,
    sa.Column("hash", sa.String(128), primary_key=True),
    sa.Column("workflow", sa.Text, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("workflow_hash", sa.String(128), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("inputs", sa.Text, nullable=False),
    sa.Column("outputs", sa.Text, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("started_at", sa.Double),
    sa.Column("ended_at", sa.Double),
    sa.Column("metadata", sa.Text, nullable=False, key="meta"),
    sa.Column("parent_run_id", sa.String(128), sa.ForeignKey("runs.id", ondelete="SET NULL")),
    sa.Column("owner", sa.String(256)),
    sa.Column("lease_expires_at", sa.Double),
    sa.Index("ix_runs_created_at_id", "created_at", "id"),
    sa.Index("ix_runs_workflow_hash_created_at", "workflow_hash", "created_at"),
    sa.Index("ix_runs_status_created_at_id", "status", "created_at", "id"),
    sa.Index("ix_runs_parent_run_id", "parent_run_id"),
)

node_records = sa.Table(
    "node_records",
    metadata,
    sa.Column("run_id", sa.String(128), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
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

events = sa.Table(
    "events",
    metadata,
    sa.Column("run_id", sa.String(128), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("n_events", sa.Integer, nullable=False, server_default="1"),  # a block's size (see _ledger)
    sa.Column("node_id", sa.String(256)),  # the node whose log lines the row holds; NULL: not log lines
    sa.Index(
        "ix_events_node_logs",
        "run_id",
        "node_id",
        "seq",
        sqlite_where=sa.text("node_id IS NOT NULL"),
        postgresql_where=sa.text("node_id IS NOT NULL"),
    ),
    sa.Index(
        "ix_events_other",
        "run_id",
        "seq",
        sqlite_where=sa.text("node_id IS NULL"),
        postgresql_where=sa.text("node_id IS NULL"),
    ),
    sqlite_with_rowid=False,
)

cache_entries = sa.Table(
    "cache_entries",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double),
    sa.Index("ix_cache_entries_expires_at", "expires_at"),
)

waits = sa.Table(
    "waits",
    metadata,
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
    sa.Index("ix_waits_status_until", "status", "until"),
)

workflow_definitions = sa.Table(
    "workflow_definitions",
    metadata,
    sa.Column("id", sa.String(256), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("format", sa.String(64)),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Index("ix_workflow_definitions_created_at", "created_at"),
)

trigger_fires = sa.Table(
    "trigger_fires",
    metadata,
    sa.Column("workflow_id", sa.String(256), primary_key=True),
    sa.Column("trigger_key", sa.String(256), primary_key=True),
    sa.Column("tick", sa.Double, primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("fired_at", sa.Double, nullable=False),
)

# what a resume needs of a run's secrets, as one Fernet token (the engine's ``SecretBox``)
run_secrets = sa.Table(
    "run_secrets",
    metadata,
    sa.Column("run_id", sa.String(128), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("sealed", sa.Text, nullable=False),
)
