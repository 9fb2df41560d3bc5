"""The SQL of ``SqlStore``: synchronous functions of a connection, each run inside one transaction.
Statements are built once per dialect (upserts differ between SQLite and PostgreSQL). The hot path (node
records and events) goes further: its statements are compiled once and run on the driver's cursor (see
``_Compiled``)."""

from __future__ import annotations

import functools
import operator
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import psycopg
from sqlalchemy.dialects.sqlite import pysqlite
from sqlalchemy.engine import Connection, Dialect, Row
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.sql.compiler import SQLCompiler

from flowloom.ir import CacheEntry, EventRow, Json, NewEvent, NodeRow, RunRow, Status, StoreError

from . import _schema as t
from ._codec import dump_scope, dumps, load_scope, loads
from ._records import TERMINAL_STATUSES, node_order

_CHUNK = 500  # ids per IN (...) when deleting
_NODE_KEY = ("run_id", "node_id", "scope")


def run_params(run: RunRow) -> dict[str, Any]:
    return {
        "id": run.id,
        "workflow_hash": run.workflow_hash,
        "status": run.status.value,
        "inputs": dumps(run.inputs),
        "outputs": dumps(run.outputs),
        "error": run.error,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "meta": dumps(run.metadata),
        "parent_run_id": run.parent_run_id,
        "owner": run.owner,
        "lease_expires_at": run.lease_expires_at,
        "last_seq": 0,
    }


def node_params(node: NodeRow) -> dict[str, Any]:
    return {
        "run_id": node.run_id,
        "node_id": node.node_id,
        "scope": dump_scope(node.scope),
        "attempt": node.attempt,
        "status": node.status.value,
        "inputs": dumps(node.inputs),
        "outputs": dumps(node.outputs),
        "branch": node.branch,
        "error": node.error,
        "started_at": node.started_at,
        "ended_at": node.ended_at,
        "cached": node.cached,
    }


def event_params(event: NewEvent) -> dict[str, Any]:
    return {"run_id": event.run_id, "type": event.type, "data": dumps(event.data), "at": event.at}


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


_RUN_COLUMNS = [column for column in t.runs.c if column.key != "last_seq"]
_SELECT_RUNS = sa.select(*_RUN_COLUMNS)
_NEWEST_FIRST = (t.runs.c.created_at.desc(), t.runs.c.id.desc())


def _lease_free(owner: str, now: float) -> sa.ColumnElement[bool]:
    runs = t.runs.c
    return sa.or_(runs.owner.is_(None), runs.owner == owner, runs.lease_expires_at <= now)


def _resumable(now: float) -> sa.ColumnElement[bool]:
    runs = t.runs.c
    return sa.and_(
        runs.status == Status.PROCESSING.value, sa.or_(runs.owner.is_(None), runs.lease_expires_at <= now)
    )


@functools.cache
def _pick(names: tuple[str, ...]) -> Callable[[dict[str, Any]], Any]:
    return operator.itemgetter(*names)


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A Core statement compiled once for a dialect and run on the DBAPI cursor: the hot path skips
    SQLAlchemy's per-call cache lookup and parameter processing, which cost more than SQLite's own work for
    a one-row transaction. Its parameters are plain ``str``/``int``/``float``/``bool``/``None``, which no
    SQLAlchemy type processes anyway. Driver errors become SQLAlchemy's, as with ``Connection.execute``."""

    sql: str
    order: tuple[str, ...] | None  # parameter names, for a positional paramstyle

    @classmethod
    def of(
        cls, statement: sa.ClauseElement, dialect: Dialect, keys: Sequence[str] | None = None
    ) -> _Compiled:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) if keys is not None else None)
        assert isinstance(compiled, SQLCompiler)
        return cls(compiled.string, tuple(compiled.positiontup or ()) if compiled.positional else None)

    def execute(self, c: Connection, row: dict[str, Any]) -> DBAPICursor:
        cursor = c.connection.cursor()
        self._run(c, lambda: cursor.execute(self.sql, self._params(row)))
        return cursor

    def executemany(self, c: Connection, rows: Sequence[dict[str, Any]]) -> None:
        cursor = c.connection.cursor()
        try:
            self._run(c, lambda: cursor.executemany(self.sql, [self._params(row) for row in rows]))
        finally:
            cursor.close()

    def _params(self, row: dict[str, Any]) -> Any:
        if self.order is None:
            return row
        picked = _pick(self.order)(row)
        return picked if len(self.order) > 1 else (picked,)

    def _run(self, c: Connection, call: Any) -> None:
        dbapi = c.dialect.loaded_dbapi
        try:
            call()
        except dbapi.Error as error:
            raise sa.exc.DBAPIError.instance(
                self.sql, None, error, dbapi.Error, hide_parameters=True, dialect=c.dialect
            ) from error


class Queries:
    """Every store operation, for one dialect."""

    def __init__(self, dialect: str) -> None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        driver_dialect = psycopg.dialect if dialect == "postgresql" else pysqlite.dialect
        driver: Dialect = driver_dialect()
        workflow = insert(t.workflows)
        self._put_workflow = workflow.on_conflict_do_nothing(index_elements=["hash"])
        node = insert(t.node_records)
        self._upsert_node = node.on_conflict_do_update(
            index_elements=list(_NODE_KEY),
            set_={c.key: node.excluded[c.key] for c in t.node_records.c if c.key not in _NODE_KEY},
        )
        cache = insert(t.cache_entries)
        self._put_cache = cache.on_conflict_do_update(
            index_elements=["key"],
            set_={c.key: cache.excluded[c.key] for c in t.cache_entries.c if c.key != "key"},
        )
        self._upsert_nodes = _Compiled.of(self._upsert_node, driver, [c.key for c in t.node_records.c])
        bump_seq = (
            sa.update(t.runs)
            .where(t.runs.c.id == sa.bindparam("b_run_id"))
            .values(last_seq=t.runs.c.last_seq + sa.bindparam("b_count", type_=sa.Integer))
            .returning(t.runs.c.last_seq)
        )
        self._bump_seq = _Compiled.of(bump_seq, driver)
        self._insert_events = _Compiled.of(sa.insert(t.events), driver, [c.key for c in t.events.c])

    # workflows -------------------------------------------------------------------------------------------

    def put_workflow(self, c: Connection, workflow_hash: str, text: str) -> None:
        c.execute(self._put_workflow, {"hash": workflow_hash, "workflow": text})

    def get_workflow(self, c: Connection, workflow_hash: str) -> Json | None:
        text = c.execute(
            sa.select(t.workflows.c.workflow).where(t.workflows.c.hash == workflow_hash)
        ).scalar()
        return None if text is None else loads(text)

    # runs ------------------------------------------------------------------------------------------------

    def create_run(self, c: Connection, params: dict[str, Any]) -> None:
        if self._exists(c, params["id"]):
            raise StoreError(f"run {params['id']!r} already exists")
        if params["parent_run_id"] is not None:
            self._require(c, params["parent_run_id"])
        c.execute(sa.insert(t.runs), params)

    def get_run(self, c: Connection, run_id: str) -> RunRow | None:
        row = c.execute(_SELECT_RUNS.where(t.runs.c.id == run_id)).first()
        return None if row is None else _run_row(row)

    def update_run(self, c: Connection, run_id: str, values: dict[str, Any]) -> None:
        if c.execute(sa.update(t.runs).where(t.runs.c.id == run_id).values(**values)).rowcount != 1:
            raise StoreError(f"unknown run {run_id!r}")

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
            c.execute(sa.update(t.runs).where(runs.parent_run_id.in_(chunk)).values(parent_run_id=None))
            c.execute(sa.delete(t.runs).where(runs.id.in_(chunk)))
        return len(doomed)

    # node records and events -----------------------------------------------------------------------------

    def record_nodes(
        self, c: Connection, nodes: Sequence[dict[str, Any]], events: Sequence[dict[str, Any]]
    ) -> list[int]:
        seqs = self.append_events(c, events)
        if nodes:
            try:
                self._upsert_nodes.executemany(c, nodes)
            except sa.exc.IntegrityError as error:  # the run is not there (foreign key), mostly
                run_ids = sorted({node["run_id"] for node in nodes})
                raise StoreError(f"cannot record nodes of run(s) {run_ids}: {error.orig}") from error
        return seqs

    def get_nodes(self, c: Connection, run_id: str) -> list[NodeRow]:
        query = sa.select(t.node_records).where(t.node_records.c.run_id == run_id)
        return sorted((_node_row(row) for row in c.execute(query)), key=node_order)

    def append_events(self, c: Connection, events: Sequence[dict[str, Any]]) -> list[int]:
        """Number events per run from the run's ``last_seq``, bumped in the same transaction (which also
        locks the run row on PostgreSQL, so concurrent appenders to one run get distinct seqs)."""
        if not events:
            return []
        by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in events:
            by_run[event["run_id"]].append(event)
        for run_id, group in by_run.items():
            cursor = self._bump_seq.execute(c, {"b_run_id": run_id, "b_count": len(group)})
            found = cursor.fetchone()
            cursor.close()
            if found is None:
                raise StoreError(f"unknown run {run_id!r}")
            last: int = found[0]
            for seq, event in enumerate(group, start=last - len(group) + 1):
                event["seq"] = seq
        self._insert_events.executemany(c, events)
        return [event["seq"] for event in events]

    def get_events(self, c: Connection, run_id: str, after: int, limit: int | None) -> list[EventRow]:
        e = t.events.c
        query = sa.select(t.events).where(e.run_id == run_id, e.seq > after).order_by(e.seq).limit(limit)
        return [
            EventRow(run_id=row.run_id, seq=row.seq, type=row.type, data=loads(row.data), at=row.at)
            for row in c.execute(query)
        ]

    # result cache ----------------------------------------------------------------------------------------

    def put_cache(self, c: Connection, entry: CacheEntry, text: str) -> None:
        params = {
            "key": entry.key,
            "value": text,
            "created_at": entry.created_at,
            "expires_at": entry.expires_at,
        }
        c.execute(self._put_cache, params)

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

    def acquire_lease(self, c: Connection, run_id: str, owner: str, ttl_s: float, now: float) -> bool:
        runs = t.runs.c
        query = (
            sa.update(t.runs)
            .where(runs.id == run_id, _lease_free(owner, now))
            .values(owner=owner, lease_expires_at=now + ttl_s)
        )
        return self._changed(c, query, run_id)

    def take_over_lease(
        self, c: Connection, run_id: str, owner: str, previous_owner: str, ttl_s: float, now: float
    ) -> bool:
        runs = t.runs.c
        query = (
            sa.update(t.runs)
            .where(runs.id == run_id, sa.or_(_lease_free(owner, now), runs.owner == previous_owner))
            .values(owner=owner, lease_expires_at=now + ttl_s)
        )
        return self._changed(c, query, run_id)

    def renew_lease(self, c: Connection, run_id: str, owner: str, ttl_s: float, now: float) -> bool:
        runs = t.runs.c
        query = (
            sa.update(t.runs)
            .where(runs.id == run_id, runs.owner == owner)
            .values(lease_expires_at=now + ttl_s)
        )
        return self._changed(c, query, run_id)

    def release_lease(self, c: Connection, run_id: str, owner: str) -> bool:
        runs = t.runs.c
        query = sa.update(t.runs).where(runs.id == run_id, runs.owner == owner)
        return self._changed(c, query.values(owner=None, lease_expires_at=None), run_id)

    def runs_to_resume(self, c: Connection, now: float) -> list[RunRow]:
        query = _SELECT_RUNS.where(_resumable(now)).order_by(t.runs.c.created_at, t.runs.c.id)
        return [_run_row(row) for row in c.execute(query)]

    # helpers ---------------------------------------------------------------------------------------------

    def _changed(self, c: Connection, query: sa.Update, run_id: str) -> bool:
        if c.execute(query).rowcount == 1:
            return True
        self._require(c, run_id)
        return False

    def _exists(self, c: Connection, run_id: str) -> bool:
        return c.execute(sa.select(t.runs.c.id).where(t.runs.c.id == run_id)).first() is not None

    def _require(self, c: Connection, run_id: str) -> None:
        if not self._exists(c, run_id):
            raise StoreError(f"unknown run {run_id!r}")
