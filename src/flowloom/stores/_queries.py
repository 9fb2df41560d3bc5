"""The SQL of ``SqlStore`` on SQLAlchemy Core: the reads (synchronous functions of a connection, each run
inside one transaction), and the statements of the write path, which ``_statements`` runs on the driver."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import psycopg
from sqlalchemy.dialects.sqlite import pysqlite
from sqlalchemy.engine import Connection, Row

from flowloom.ir import CacheEntry, EventRow, Json, NodeRow, RunRow, Status, StoreError, WaitRow, WaitStatus

from . import _schema as t
from ._codec import dump_scope, dumps, load_scope, loads
from ._ledger import expand
from ._records import TERMINAL_STATUSES, node_order
from ._statements import KEYS, Compiled, Writes
from ._waits import chosen_wait, not_waiting

_CHUNK = 500  # ids per IN (...) when deleting
_NODE_KEY = ("run_id", "node_id", "scope")


def _run_row(row: Row[Any]) -> RunRow:
    m = row._mapping
    return RunRow(
        id=m["id"],
        workflow_hash=m["workflow_hash"],
        status=Status(m["status"]),
        created_at=m["created_at"],
        inputs=loads(m["inputs"]),
        outputs=loads(m["outputs"]),
        error=m["error"],
        started_at=m["started_at"],
        ended_at=m["ended_at"],
        metadata=loads(m["meta"]),
        parent_run_id=m["parent_run_id"],
        owner=m["owner"],
        lease_expires_at=m["lease_expires_at"],
    )


def _node_row(row: Row[Any]) -> NodeRow:
    m = row._mapping
    return NodeRow(
        run_id=m["run_id"],
        node_id=m["node_id"],
        scope=load_scope(m["scope"]),
        attempt=m["attempt"],
        status=Status(m["status"]),
        inputs=loads(m["inputs"]),
        outputs=loads(m["outputs"]),
        branch=m["branch"],
        error=m["error"],
        started_at=m["started_at"],
        ended_at=m["ended_at"],
        cached=bool(m["cached"]),
    )


def _wait_row(row: Row[Any]) -> WaitRow:
    m = row._mapping
    return WaitRow(
        run_id=m["run_id"],
        key=m["key"],
        node_id=m["node_id"],
        scope=load_scope(m["scope"]),
        reason=m["reason"],
        prompt=m["prompt"],
        choices=loads(m["choices"]),
        until=m["until"],
        details=loads(m["details"]),
        created_at=m["created_at"],
        status=WaitStatus(m["status"]),
        payload=loads(m["payload"]),
        answered_at=m["answered_at"],
    )


def wait_values(wait: WaitRow) -> dict[str, Any]:
    """A wait's column values (JSON encoded; call before the hand-off to a thread)."""
    return {
        "run_id": wait.run_id,
        "key": wait.key,
        "node_id": wait.node_id,
        "scope": dump_scope(wait.scope),
        "reason": str(wait.reason),
        "prompt": wait.prompt,
        "choices": dumps(wait.choices),
        "until": wait.until,
        "details": dumps(wait.details),
        "created_at": wait.created_at,
        "status": str(wait.status),
        "payload": dumps(wait.payload),
        "answered_at": wait.answered_at,
    }


_SELECT_RUNS = sa.select(t.runs)
_NEWEST_FIRST = (t.runs.c.created_at.desc(), t.runs.c.id.desc())


def _lease_free() -> sa.ColumnElement[bool]:
    """Free for ``b_owner`` at ``b_now``: nobody's, already theirs, or expired."""
    runs = t.runs.c
    return sa.or_(
        runs.owner.is_(None),
        runs.owner == sa.bindparam("b_owner"),
        runs.lease_expires_at <= sa.bindparam("b_now"),
    )


def _resumable(now: float) -> sa.ColumnElement[bool]:
    runs = t.runs.c
    return sa.and_(
        runs.status == Status.PROCESSING.value, sa.or_(runs.owner.is_(None), runs.lease_expires_at <= now)
    )


def write_statements(dialect: str) -> dict[str, sa.ClauseElement]:
    """The write path's statements (``_statements.KEYS`` names each one's row)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    node = insert(t.node_records)
    cache = insert(t.cache_entries)
    runs = t.runs.c
    the_run = runs.id == sa.bindparam("b_run_id")
    update = sa.update(t.runs).where(runs.id == sa.bindparam("b_id"))
    take = update.values(owner=sa.bindparam("b_owner"), lease_expires_at=sa.bindparam("b_expires"))
    owned = update.where(runs.owner == sa.bindparam("b_owner"))
    return {
        "upsert_nodes": node.on_conflict_do_update(
            index_elements=list(_NODE_KEY),
            set_={c.key: node.excluded[c.key] for c in t.node_records.c if c.key not in _NODE_KEY},
        ),
        # a run's last event seq (no row: no such run)
        "last_seq": sa.select(
            runs.id,
            sa.select(sa.func.max(t.events.c.seq)).where(t.events.c.run_id == runs.id).scalar_subquery(),
        ).where(the_run),
        "insert_events": sa.insert(t.events),
        "put_workflow": insert(t.workflows).on_conflict_do_nothing(index_elements=["hash"]),
        "put_cache": cache.on_conflict_do_update(
            index_elements=["key"],
            set_={c.key: cache.excluded[c.key] for c in t.cache_entries.c if c.key != "key"},
        ),
        "insert_run": sa.insert(t.runs),
        "find_run": sa.select(runs.id).where(runs.id == sa.bindparam("b_id")),
        "acquire": take.where(_lease_free()),
        "take_over": take.where(sa.or_(_lease_free(), runs.owner == sa.bindparam("b_previous"))),
        "renew": owned.values(lease_expires_at=sa.bindparam("b_expires")),
        "release": owned.values(owner=sa.null(), lease_expires_at=sa.null()),
        "lock_run": sa.select(runs.id).where(the_run).with_for_update(),
    }


def _driver(dialect: str) -> sa.Dialect:
    driver: sa.Dialect = psycopg.dialect() if dialect == "postgresql" else pysqlite.dialect()  # type: ignore[no-untyped-call]
    return driver


def update_run_statement(dialect: str, keys: tuple[str, ...]) -> Compiled:
    """``UPDATE runs SET <keys> WHERE id``, compiled: rows hold the values of ``keys`` then the run's id."""
    statement = sa.update(t.runs).where(t.runs.c.id == sa.bindparam("b_id"))
    return Compiled.of(statement, _driver(dialect), (*keys, "b_id"))


def compiled_writes(dialect: str) -> Writes:
    """The write path compiled by SQLAlchemy for ``dialect`` (SQLite's is written out: ``Writes.sqlite``)."""
    driver = _driver(dialect)
    statements = write_statements(dialect)
    compiled = {name: Compiled.of(statements[name], driver, keys) for name, keys in KEYS.items()}
    lock_run = Compiled.of(statements["lock_run"], driver, ("b_run_id",)) if dialect == "postgresql" else None
    return Writes(compiled, lambda keys: update_run_statement(dialect, keys), lock_run)


class Queries:
    """The reads, and the writes of whole tables (pruning), for one dialect."""

    # workflows -------------------------------------------------------------------------------------------

    def get_workflow(self, c: Connection, workflow_hash: str) -> Json | None:
        text = c.execute(
            sa.select(t.workflows.c.workflow).where(t.workflows.c.hash == workflow_hash)
        ).scalar()
        return None if text is None else loads(text)

    # runs ------------------------------------------------------------------------------------------------

    def get_run(self, c: Connection, run_id: str) -> RunRow | None:
        row = c.execute(_SELECT_RUNS.where(t.runs.c.id == run_id)).first()
        return None if row is None else _run_row(row)

    def run_ids_with_prefix(self, c: Connection, prefix: str, limit: int) -> list[str]:
        query = sa.select(t.runs.c.id).where(t.runs.c.id.startswith(prefix, autoescape=True))
        return [str(row[0]) for row in c.execute(query.order_by(t.runs.c.id).limit(limit))]

    def list_runs(self, c: Connection, status: Status | None, limit: int, offset: int) -> list[RunRow]:
        query = _SELECT_RUNS.order_by(*_NEWEST_FIRST).limit(limit).offset(offset)
        if status is not None:
            query = query.where(t.runs.c.status == status.value)
        return [_run_row(row) for row in c.execute(query)]

    def count_runs(self, c: Connection, status: Status | None) -> int:
        query = sa.select(sa.func.count()).select_from(t.runs)
        if status is not None:
            query = query.where(t.runs.c.status == status.value)
        return int(c.execute(query).scalar_one())

    def prune_runs(self, c: Connection, older_than: float, keep_last: int) -> int:
        runs = t.runs.c
        query = sa.select(runs.id).where(
            runs.status.in_([status.value for status in TERMINAL_STATUSES]), runs.created_at < older_than
        )
        if keep_last > 0:
            newest = sa.select(runs.id).order_by(*_NEWEST_FIRST).limit(keep_last)
            query = query.where(runs.id.not_in(newest.scalar_subquery()))
        doomed = list(c.execute(query).scalars())
        for start in range(0, len(doomed), _CHUNK):
            chunk = doomed[start : start + _CHUNK]
            c.execute(sa.delete(t.events).where(t.events.c.run_id.in_(chunk)))
            c.execute(sa.delete(t.node_records).where(t.node_records.c.run_id.in_(chunk)))
            c.execute(sa.delete(t.waits).where(t.waits.c.run_id.in_(chunk)))
            c.execute(sa.delete(t.run_secrets).where(t.run_secrets.c.run_id.in_(chunk)))
            c.execute(sa.update(t.runs).where(runs.parent_run_id.in_(chunk)).values(parent_run_id=None))
            c.execute(sa.delete(t.runs).where(runs.id.in_(chunk)))
        return len(doomed)

    # node records and events -----------------------------------------------------------------------------

    def get_nodes(self, c: Connection, run_id: str) -> list[NodeRow]:
        query = sa.select(t.node_records).where(t.node_records.c.run_id == run_id)
        return sorted((_node_row(row) for row in c.execute(query)), key=node_order)

    def get_events(self, c: Connection, run_id: str, after: int, limit: int | None) -> list[EventRow]:
        e = t.events.c
        # a row holds one or more events ending at its seq (see _ledger): each row above `after` holds at
        # least one wanted event, so `limit` rows hold enough
        query = sa.select(t.events).where(e.run_id == run_id, e.seq > after).order_by(e.seq).limit(limit)
        found = [event for row in c.execute(query) for event in expand(row, after)]
        return found if limit is None else found[:limit]

    # result cache ----------------------------------------------------------------------------------------

    def get_cache(self, c: Connection, key: str, now: float) -> CacheEntry | None:
        e = t.cache_entries.c
        query = sa.select(t.cache_entries).where(
            e.key == key, sa.or_(e.expires_at.is_(None), e.expires_at > now)
        )
        row = c.execute(query).first()
        if row is None:
            return None
        return CacheEntry(
            key=row.key, value=loads(row.value), created_at=row.created_at, expires_at=row.expires_at
        )

    def prune_cache(self, c: Connection, now: float) -> int:
        return c.execute(sa.delete(t.cache_entries).where(t.cache_entries.c.expires_at <= now)).rowcount

    # leases ----------------------------------------------------------------------------------------------

    def runs_to_resume(self, c: Connection, now: float) -> list[RunRow]:
        query = _SELECT_RUNS.where(_resumable(now)).order_by(t.runs.c.created_at, t.runs.c.id)
        return [_run_row(row) for row in c.execute(query)]

    # secrets ---------------------------------------------------------------------------------------------

    def put_secrets(self, c: Connection, run_id: str, sealed: str) -> None:
        if c.execute(sa.select(t.runs.c.id).where(t.runs.c.id == run_id)).first() is None:
            raise StoreError(f"unknown run {run_id!r}")
        c.execute(sa.delete(t.run_secrets).where(t.run_secrets.c.run_id == run_id))
        c.execute(sa.insert(t.run_secrets).values(run_id=run_id, sealed=sealed))

    def get_secrets(self, c: Connection, run_id: str) -> str | None:
        query = sa.select(t.run_secrets.c.sealed).where(t.run_secrets.c.run_id == run_id)
        found: str | None = c.execute(query).scalar_one_or_none()
        return found

    # waits -----------------------------------------------------------------------------------------------

    def put_waits(self, c: Connection, rows: list[dict[str, Any]]) -> None:
        runs = t.runs.c
        for run_id in {row["run_id"] for row in rows}:
            if c.execute(sa.select(runs.id).where(runs.id == run_id)).first() is None:
                raise StoreError(f"unknown run {run_id!r}")
        w = t.waits.c
        for row in rows:
            answered = c.execute(
                sa.select(w.key).where(
                    w.run_id == row["run_id"], w.key == row["key"], w.status == WaitStatus.ANSWERED.value
                )
            ).first()
            if answered is not None:
                continue
            c.execute(sa.delete(t.waits).where(w.run_id == row["run_id"], w.key == row["key"]))
            c.execute(sa.insert(t.waits).values(**row))

    def get_waits(self, c: Connection, run_id: str) -> list[WaitRow]:
        query = sa.select(t.waits).where(t.waits.c.run_id == run_id).order_by(t.waits.c.key)
        return [_wait_row(row) for row in c.execute(query)]

    def answer_wait(
        self,
        c: Connection,
        run_id: str,
        key: str | None,
        payload_text: str,
        owner: str,
        ttl_s: float,
        now: float,
    ) -> WaitRow:
        """See ``RunStore.answer_wait``. The run's row is locked first (``FOR UPDATE`` on PostgreSQL: a
        concurrent answer waits for this transaction, then finds the run no longer waiting; SQLite's write
        transactions take turns anyway), then claimed by an update conditional on its status."""
        runs = t.runs.c
        status = c.execute(sa.select(runs.status).where(runs.id == run_id).with_for_update()).scalar()
        if status is None:
            raise StoreError(f"unknown run {run_id!r}")
        if status != Status.WAITING.value:
            raise not_waiting(run_id, Status(status))
        wait = chosen_wait(run_id, self.get_waits(c, run_id), key)
        claimed = c.execute(
            sa.update(t.runs)
            .where(runs.id == run_id, runs.status == Status.WAITING.value)
            .values(status=Status.PROCESSING.value, owner=owner, lease_expires_at=now + ttl_s)
        )
        if claimed.rowcount != 1:
            current = c.execute(sa.select(runs.status).where(runs.id == run_id)).scalar()
            raise not_waiting(run_id, Status(current or Status.PROCESSING.value))
        w = t.waits.c
        c.execute(
            sa.update(t.waits)
            .where(w.run_id == run_id, w.key == wait.key, w.status == WaitStatus.OPEN.value)
            .values(status=WaitStatus.ANSWERED.value, payload=payload_text, answered_at=now)
        )
        row = c.execute(sa.select(t.waits).where(w.run_id == run_id, w.key == wait.key)).one()
        return _wait_row(row)

    def due_waits(self, c: Connection, now: float, limit: int) -> list[WaitRow]:
        w, runs = t.waits.c, t.runs.c
        query = (
            sa.select(t.waits)
            .join(t.runs, runs.id == w.run_id)
            .where(
                w.status == WaitStatus.OPEN.value,
                w.until.is_not(None),
                w.until <= now,
                runs.status == Status.WAITING.value,
            )
            .order_by(w.until, w.run_id, w.key)
            .limit(limit)
        )
        return [_wait_row(row) for row in c.execute(query)]
