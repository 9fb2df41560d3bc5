"""Trigger fires (``TriggerFire``) in SQL: a claim is an insert that does nothing when the row exists, so
two servers claiming one tick never both win and neither fails."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowloom.ir import TriggerFire

from . import _schema as t

_FIRES = t.trigger_fires


def claim_trigger_fire(c: Connection, fire: TriggerFire) -> bool:
    values = {
        "workflow_id": fire.workflow_id,
        "trigger_key": fire.trigger_key,
        "tick": fire.tick,
        "run_id": fire.run_id,
        "fired_at": fire.fired_at,
    }
    # RETURNING rather than rowcount, which drivers do not all report for an insert that did nothing
    if c.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(_FIRES).values(values).on_conflict_do_nothing()
        return c.execute(pg.returning(_FIRES.c.run_id)).first() is not None
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    lite = sqlite_insert(_FIRES).values(values).on_conflict_do_nothing()
    return c.execute(lite.returning(_FIRES.c.run_id)).first() is not None


def last_trigger_fires(c: Connection) -> dict[tuple[str, str], float]:
    statement = sa.select(_FIRES.c.workflow_id, _FIRES.c.trigger_key, sa.func.max(_FIRES.c.tick)).group_by(
        _FIRES.c.workflow_id, _FIRES.c.trigger_key
    )
    return {(workflow_id, key): float(tick) for workflow_id, key, tick in c.execute(statement)}


def prune_trigger_fires(c: Connection, older_than: float) -> int:
    newer = _FIRES.alias("newer")
    superseded = sa.exists().where(
        newer.c.workflow_id == _FIRES.c.workflow_id,
        newer.c.trigger_key == _FIRES.c.trigger_key,
        newer.c.tick > _FIRES.c.tick,
    )
    return int(c.execute(sa.delete(_FIRES).where(_FIRES.c.tick < older_than, superseded)).rowcount)
