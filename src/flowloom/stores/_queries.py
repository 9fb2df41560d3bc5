"""The SQL of ``SqlStore``: synchronous functions of a connection, each run inside one transaction.
Statements are built once per dialect (upserts differ between SQLite and PostgreSQL). The hot path (node
records and events) goes further: its statements are compiled once and run on the driver's cursor (see
``_Compiled``)."""

from __future__ import annotations

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
from ._ledger import expand, ledger_row
from ._records import TERMINAL_STATUSES, node_order

_CHUNK = 500  # ids per IN (...) when deleting
_NODE_KEY = ("run_id", "node_id", "scope")


def run_values(run: RunRow) -> tuple[Any, ...]:
    """A run's column values, in ``runs``' column order."""
    return (
        run.id,
        run.workflow_hash,
        run.status.value,
        dumps(run.inputs),
        dumps(run.outputs),
        run.error,
        run.created_at,
        run.started_at,
        run.ended_at,
        dumps(run.metadata),
        run.parent_run_id,
        run.owner,
        run.lease_expires_at,
    )


_STATUS_TEXT = {status: status.value for status in Status}


def node_values(node: NodeRow) -> tuple[Any, ...]:
    """A node record's column values, in ``node_records``' column order."""
    return (
        node.run_id,
        node.node_id,
        dump_scope(node.scope),
        node.attempt,
        _STATUS_TEXT[node.status],
        dumps(node.inputs),
        dumps(node.outputs),
        node.branch,
        node.error,
        node.started_at,
        node.ended_at,
        node.cached,
    )


def event_values(event: NewEvent) -> tuple[str, str, str, float]:
    """An event's column values but its ``seq``: run_id, type, data, at."""
    return (event.run_id, event.type, dumps(event.data), event.at)


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


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A Core statement compiled once for a dialect and run on the DBAPI connection: the hot path skips
    SQLAlchemy's per-call cache lookup, parameter processing and connection wrappers, which cost more than
    SQLite's own work for a one-row transaction. A row is a tuple of plain ``str``/``int``/``float``/
    ``bool``/``None`` values in the order of ``keys`` (no SQLAlchemy type processes those anyway), arranged
    here for the driver's paramstyle. Driver errors become SQLAlchemy's, as with ``Connection.execute``."""

    sql: str
    arrange: Callable[[tuple[Any, ...]], Any] | None  # a row as the driver takes it; None: as it is
    dialect: Dialect
    driver_error: type[Exception]  # the DBAPI module's Error

    @classmethod
    def of(cls, statement: sa.ClauseElement, dialect: Dialect, keys: Sequence[str]) -> _Compiled:
        keys = tuple(keys)
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        assert isinstance(compiled, SQLCompiler)
        driver_error = type(dialect).import_dbapi().Error
        arrange: Callable[[tuple[Any, ...]], Any] | None
        if not compiled.positional:
            arrange = lambda row: dict(zip(keys, row, strict=True))  # noqa: E731
        else:
            order = tuple(compiled.positiontup or ())
            indexes = [keys.index(name) for name in order]
            arrange = None if order == keys else lambda row: tuple([row[index] for index in indexes])
        return cls(compiled.string, arrange, dialect, driver_error)

    def execute(self, dbapi: Any, row: tuple[Any, ...]) -> DBAPICursor:
        """Run on ``dbapi``, a DBAPI connection; the caller closes the cursor."""
        cursor: DBAPICursor = dbapi.cursor()
        try:
            cursor.execute(self.sql, row if self.arrange is None else self.arrange(row))
        except Exception as error:
            cursor.close()
            raise self._error(error) from error
        return cursor

    def executemany(self, dbapi: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        cursor = dbapi.cursor()
        try:
            cursor.executemany(
                self.sql, rows if self.arrange is None else [self.arrange(row) for row in rows]
            )
        except Exception as error:
            raise self._error(error) from error
        finally:
            cursor.close()

    def _error(self, error: Exception) -> Exception:
        if not isinstance(error, self.driver_error):
            return error
        return sa.exc.DBAPIError.instance(
            self.sql, None, error, type(error), hide_parameters=True, dialect=self.dialect
        )


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
        # a run's last event seq (no row: no such run); on PostgreSQL after locking the run (append_events)
        the_run = t.runs.c.id == sa.bindparam("b_run_id")
        last_seq = sa.select(
            t.runs.c.id,
            sa.select(sa.func.max(t.events.c.seq)).where(t.events.c.run_id == t.runs.c.id).scalar_subquery(),
        ).where(the_run)
        self._last_seq = _Compiled.of(last_seq, driver, ("b_run_id",))
        lock = sa.select(t.runs.c.id).where(the_run).with_for_update()
        self._lock_run = _Compiled.of(lock, driver, ("b_run_id",)) if dialect == "postgresql" else None
        self._insert_events = _Compiled.of(sa.insert(t.events), driver, [c.key for c in t.events.c])
        # the per-run writes: compiled too, as a short run makes as many of them as node writes
        self._driver = driver
        runs = t.runs.c
        self._put_workflow_now = _Compiled.of(self._put_workflow, driver, ("hash", "workflow"))
        self._put_cache_now = _Compiled.of(self._put_cache, driver, [c.key for c in t.cache_entries.c])
        self._insert_run = _Compiled.of(sa.insert(t.runs), driver, [c.key for c in t.runs.c])
        find_run = sa.select(runs.id).where(runs.id == sa.bindparam("b_id"))
        self._find_run = _Compiled.of(find_run, driver, ("b_id",))
        self._updates: dict[tuple[str, ...], _Compiled] = {}  # update_run's, by the columns it sets
        update = sa.update(t.runs).where(runs.id == sa.bindparam("b_id"))
        take = update.values(owner=sa.bindparam("b_owner"), lease_expires_at=sa.bindparam("b_expires"))
        lease_keys = ("b_id", "b_owner", "b_now", "b_expires")
        self._acquire = _Compiled.of(take.where(_lease_free()), driver, lease_keys)
        taken_over = sa.or_(_lease_free(), runs.owner == sa.bindparam("b_previous"))
        self._take_over = _Compiled.of(take.where(taken_over), driver, (*lease_keys, "b_previous"))
        owned = update.where(runs.owner == sa.bindparam("b_owner"))
        renew = owned.values(lease_expires_at=sa.bindparam("b_expires"))
        self._renew = _Compiled.of(renew, driver, ("b_id", "b_owner", "b_expires"))
        release = owned.values(owner=sa.null(), lease_expires_at=sa.null())
        self._release = _Compiled.of(release, driver, ("b_id", "b_owner"))

    # workflows -------------------------------------------------------------------------------------------

    def put_workflow(self, c: Connection, workflow_hash: str, text: str) -> None:
        self._put_workflow_now.execute(c.connection.driver_connection, (workflow_hash, text)).close()

    def get_workflow(self, c: Connection, workflow_hash: str) -> Json | None:
        text = c.execute(
            sa.select(t.workflows.c.workflow).where(t.workflows.c.hash == workflow_hash)
        ).scalar()
        return None if text is None else loads(text)

    # runs ------------------------------------------------------------------------------------------------

    def create_run(self, c: Connection, values: tuple[Any, ...]) -> None:
        """``values``: ``run_values``."""
        dbapi = c.connection.driver_connection
        run_id, parent_run_id = values[0], values[10]
        if self._exists(dbapi, run_id):
            raise StoreError(f"run {run_id!r} already exists")
        if parent_run_id is not None:
            self._require(dbapi, parent_run_id)
        self._insert_run.execute(dbapi, values).close()

    def get_run(self, c: Connection, run_id: str) -> RunRow | None:
        row = c.execute(_SELECT_RUNS.where(t.runs.c.id == run_id)).first()
        return None if row is None else _run_row(row)

    def update_run(self, c: Connection, run_id: str, values: dict[str, Any]) -> None:
        """``values`` by column key (``meta`` for the metadata)."""
        keys = tuple(values)
        update = self._updates.get(keys)
        if update is None:
            statement = sa.update(t.runs).where(t.runs.c.id == sa.bindparam("b_id"))
            update = self._updates[keys] = _Compiled.of(statement, self._driver, (*keys, "b_id"))
        cursor = update.execute(c.connection.driver_connection, (*values.values(), run_id))
        changed = cursor.rowcount
        cursor.close()
        if changed != 1:
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
        self, c: Connection, nodes: Sequence[tuple[Any, ...]], events: Sequence[tuple[str, str, str, float]]
    ) -> list[int]:
        """``nodes``: ``node_values``; ``events``: ``event_values``."""
        dbapi = c.connection.driver_connection
        seqs = self._append_events(dbapi, events)
        if nodes:
            try:
                self._upsert_nodes.executemany(dbapi, nodes)
            except sa.exc.IntegrityError as error:  # the run is not there (foreign key), mostly
                run_ids = sorted({node[0] for node in nodes})
                raise StoreError(f"cannot record nodes of run(s) {run_ids}: {error.orig}") from error
        return seqs

    def get_nodes(self, c: Connection, run_id: str) -> list[NodeRow]:
        query = sa.select(t.node_records).where(t.node_records.c.run_id == run_id)
        return sorted((_node_row(row) for row in c.execute(query)), key=node_order)

    def append_events(self, c: Connection, events: Sequence[tuple[str, str, str, float]]) -> list[int]:
        """Number events (``event_values``) per run after the run's last one. Appenders to one run take
        turns: SQLite writes one transaction at a time, and on PostgreSQL the run's row is locked first, in a
        statement of its own (a statement reads what was committed when it began, so the ``max(seq)`` is
        read after the lock is held)."""
        return self._append_events(c.connection.driver_connection, events)

    def _append_events(self, dbapi: Any, events: Sequence[tuple[str, str, str, float]]) -> list[int]:
        if not events:
            return []
        by_run: dict[str, Sequence[tuple[str, str, str, float]]]
        if len({event[0] for event in events}) == 1:  # the common case: one run's journal
            by_run = {events[0][0]: events}
        else:
            by_run = {}
            for event in events:
                by_run.setdefault(event[0], []).append(event)  # type: ignore[attr-defined]
        first_seq: dict[str, int] = {}
        rows = []
        for run_id, run_events in by_run.items():
            if self._lock_run is not None:
                self._lock_run.execute(dbapi, (run_id,)).close()
            cursor = self._last_seq.execute(dbapi, (run_id,))
            found = cursor.fetchone()
            cursor.close()
            if found is None:
                raise StoreError(f"unknown run {run_id!r}")
            first_seq[run_id] = (found[1] or 0) + 1
            rows.append(ledger_row(run_id, first_seq[run_id], run_events))
        self._insert_events.executemany(dbapi, rows)
        if len(by_run) == 1:
            return list(range(rows[0][1] - len(events) + 1, rows[0][1] + 1))
        seqs = []
        for run_id, *_ in events:
            seqs.append(first_seq[run_id])
            first_seq[run_id] += 1
        return seqs

    def get_events(self, c: Connection, run_id: str, after: int, limit: int | None) -> list[EventRow]:
        e = t.events.c
        # a row holds one or more events ending at its seq (see _ledger): each row above `after` holds at
        # least one wanted event, so `limit` rows hold enough
        query = sa.select(t.events).where(e.run_id == run_id, e.seq > after).order_by(e.seq).limit(limit)
        found = [event for row in c.execute(query) for event in expand(row, after)]
        return found if limit is None else found[:limit]

    # result cache ----------------------------------------------------------------------------------------

    def put_cache(self, c: Connection, entry: CacheEntry, text: str) -> None:
        row = (entry.key, text, entry.created_at, entry.expires_at)
        self._put_cache_now.execute(c.connection.driver_connection, row).close()

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
        return self._changed(c, self._acquire, (run_id, owner, now, now + ttl_s))

    def take_over_lease(
        self, c: Connection, run_id: str, owner: str, previous_owner: str, ttl_s: float, now: float
    ) -> bool:
        return self._changed(c, self._take_over, (run_id, owner, now, now + ttl_s, previous_owner))

    def renew_lease(self, c: Connection, run_id: str, owner: str, ttl_s: float, now: float) -> bool:
        return self._changed(c, self._renew, (run_id, owner, now + ttl_s))

    def release_lease(self, c: Connection, run_id: str, owner: str) -> bool:
        return self._changed(c, self._release, (run_id, owner))

    def runs_to_resume(self, c: Connection, now: float) -> list[RunRow]:
        query = _SELECT_RUNS.where(_resumable(now)).order_by(t.runs.c.created_at, t.runs.c.id)
        return [_run_row(row) for row in c.execute(query)]

    # helpers ---------------------------------------------------------------------------------------------

    def _changed(self, c: Connection, update: _Compiled, row: tuple[Any, ...]) -> bool:
        """Whether ``update`` (whose first parameter is the run's id) changed the run; raises if there is no
        such run."""
        dbapi = c.connection.driver_connection
        cursor = update.execute(dbapi, row)
        changed = cursor.rowcount == 1
        cursor.close()
        if not changed:
            self._require(dbapi, row[0])
        return changed

    def _exists(self, dbapi: Any, run_id: str) -> bool:
        cursor = self._find_run.execute(dbapi, (run_id,))
        found = cursor.fetchone() is not None
        cursor.close()
        return found

    def _require(self, dbapi: Any, run_id: str) -> None:
        if not self._exists(dbapi, run_id):
            raise StoreError(f"unknown run {run_id!r}")
