"""Alembic environment for flowloom's stores. Only run from ``flowloom.stores`` (``SqlStore.open``), which
passes an open connection, inside its own transaction, as ``config.attributes["connection"]``."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("flowloom's migrations run from flowloom.stores.SqlStore, with a connection")
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
