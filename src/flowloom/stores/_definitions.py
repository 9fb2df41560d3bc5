"""Saved workflows (``WorkflowDefinition``) in SQL: rare calls, through SQLAlchemy Core in a worker thread."""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from flowloom.ir import WorkflowDefinition

from . import _schema as t
from ._codec import dumps, loads

_DEFS = t.workflow_definitions


def _definition(row: Row[Any]) -> WorkflowDefinition:
    return WorkflowDefinition(
        id=row.id,
        name=row.name,
        format=row.format,
        document=loads(row.document),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def save_definition(c: Connection, definition: WorkflowDefinition) -> WorkflowDefinition:
    kept = c.execute(sa.select(_DEFS.c.created_at).where(_DEFS.c.id == definition.id).with_for_update())
    created_at = kept.scalar()
    if created_at is not None:
        definition = dataclasses.replace(definition, created_at=created_at)
        c.execute(sa.delete(_DEFS).where(_DEFS.c.id == definition.id))
    c.execute(
        sa.insert(_DEFS).values(
            id=definition.id,
            name=definition.name,
            format=definition.format,
            document=dumps(definition.document),
            created_at=definition.created_at,
            updated_at=definition.updated_at,
        )
    )
    return definition


def get_definition(c: Connection, definition_id: str) -> WorkflowDefinition | None:
    row = c.execute(sa.select(_DEFS).where(_DEFS.c.id == definition_id)).first()
    return None if row is None else _definition(row)


def list_definitions(c: Connection, limit: int) -> list[WorkflowDefinition]:
    statement = sa.select(_DEFS).order_by(_DEFS.c.created_at, _DEFS.c.id).limit(limit)
    return [_definition(row) for row in c.execute(statement)]


def delete_definition(c: Connection, definition_id: str) -> bool:
    return bool(c.execute(sa.delete(_DEFS).where(_DEFS.c.id == definition_id)).rowcount)
