"""The write path of ``SqlStore``: every statement that recording a run makes, compiled once per dialect and
run on the DBAPI connection, skipping SQLAlchemy's per-call cache lookup, parameter processing and connection
wrappers, which cost more than SQLite's own work for a one-row transaction.

SQLite's statements are written out here, as SQLAlchemy compiles them (a test holds them to it), so that
recording into an up-to-date SQLite file never imports SQLAlchemy: its import costs a short-lived process such
as ``flowloom run`` more than everything else the process does. PostgreSQL's are compiled by SQLAlchemy from
the statements in ``_queries``.

A row is a tuple of plain ``str``/``int``/``float``/``bool``/``None`` values in the order of the statement's
keys (no SQLAlchemy type processes those anyway), arranged for the driver's paramstyle. Driver errors become
SQLAlchemy's, as with ``Connection.execute`` (SQLAlchemy is imported then, on the error path only).

Measured against SQLAlchemy Core's ``Connection.execute`` by ``bench/tricks.py``: about 45 % of the cold start
of ``flowloom run`` and 30-60 % of the recording overhead (bench/README.md, "Speed tricks audited").
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from flowloom.ir import EncodedEvents, NewEvent, NodeRow, RunRow, Status, StoreError

from ._codec import dump_scope, dumps
from ._ledger import ledger_rows

if TYPE_CHECKING:
    from sqlalchemy import ClauseElement
    from sqlalchemy.engine import Dialect

Row = tuple[Any, ...]
EventValues = tuple[str, str, float]  # an event's type, data as JSON text, and time (as ``EncodedEvents``)

#: ``runs``' column keys, in column order (``meta`` is the ``metadata`` column)
RUN_KEYS: Final = (
    "id",
    "workflow_hash",
    "status",
    "inputs",
    "outputs",
    "error",
    "created_at",
    "started_at",
    "ended_at",
    "meta",
    "parent_run_id",
    "owner",
    "lease_expires_at",
)
_RUN_COLUMN_NAMES: Final = {"meta": "metadata"}


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


def events_by_run(events: Sequence[NewEvent]) -> dict[str, list[EventValues]]:
    """Events' values by run, each run's in order (a journal's ``EncodedEvents`` are one run's already)."""
    if isinstance(events, EncodedEvents):
        return {events.run_id: events.items} if events.items else {}
    grouped: dict[str, list[EventValues]] = {}
    for event in events:
        grouped.setdefault(event.run_id, []).append((event.type, dumps(event.data), event.at))
    return grouped


def event_seqs(events: Sequence[NewEvent], first_seqs: Mapping[str, int]) -> list[int]:
    """The seqs of ``events``, in order, given each run's first new seq."""
    if isinstance(events, EncodedEvents):
        first = first_seqs.get(events.run_id, 1)
        return list(range(first, first + len(events.items)))
    next_seq = dict(first_seqs)
    seqs = []
    for event in events:
        seqs.append(next_seq[event.run_id])
        next_seq[event.run_id] += 1
    return seqs


@dataclass(frozen=True, slots=True)
class Compiled:
    """One statement of one dialect, ready for a DBAPI connection."""

    sql: str
    order: tuple[int, ...] | None  # the row's items in the driver's parameter order; None: as they are
    named: tuple[str, ...] | None  # or, for a driver taking named parameters, the row's keys
    driver_error: type[Exception]  # the DBAPI module's Error

    @classmethod
    def of(cls, statement: ClauseElement, dialect: Dialect, keys: Sequence[str]) -> Compiled:
        """``statement`` compiled by SQLAlchemy for ``dialect``; rows give the values of ``keys``."""
        from sqlalchemy.sql.compiler import SQLCompiler

        keys = tuple(keys)
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        assert isinstance(compiled, SQLCompiler)
        driver_error = type(dialect).import_dbapi().Error
        if not compiled.positional:
            return cls(compiled.string, None, keys, driver_error)
        order = tuple(keys.index(name) for name in compiled.positiontup or ())
        return cls(compiled.string, None if order == tuple(range(len(keys))) else order, None, driver_error)

    def _arranged(self, row: Row) -> Any:
        if self.named is not None:
            return dict(zip(self.named, row, strict=True))
        return row if self.order is None else tuple([row[index] for index in self.order])

    def execute(self, dbapi: Any, row: Row) -> Any:
        """Run on ``dbapi``, a DBAPI connection, and return the cursor (the caller closes it)."""
        cursor = dbapi.cursor()
        try:
            cursor.execute(self.sql, self._arranged(row))
        except Exception as error:
            cursor.close()
            raise self._error(error) from error
        return cursor

    def changed(self, dbapi: Any, row: Row) -> int:
        """Run on ``dbapi``; the number of rows changed."""
        cursor = self.execute(dbapi, row)
        count: int = cursor.rowcount
        cursor.close()
        return count

    def found(self, dbapi: Any, row: Row) -> Row | None:
        """Run on ``dbapi``; the first row of the result."""
        cursor = self.execute(dbapi, row)
        first: Row | None = cursor.fetchone()
        cursor.close()
        return first

    def executemany(self, dbapi: Any, rows: Sequence[Row]) -> None:
        cursor = dbapi.cursor()
        try:
            arranged = self._arranged
            simple = self.named is None and self.order is None
            cursor.executemany(self.sql, rows if simple else [arranged(row) for row in rows])
        except Exception as error:
            raise self._error(error) from error
        finally:
            cursor.close()

    def _error(self, error: Exception) -> Exception:
        if not isinstance(error, self.driver_error):
            return error
        from sqlalchemy.exc import DBAPIError

        return DBAPIError.instance(self.sql, None, error, type(error), hide_parameters=True)


def _sqlite(sql: str, order: tuple[int, ...] | None = None) -> Compiled:
    return Compiled(sql, order, None, sqlite3.Error)


_NODE_SET = (
    "attempt = excluded.attempt, status = excluded.status, inputs = excluded.inputs,"
    " outputs = excluded.outputs, branch = excluded.branch, error = excluded.error,"
    " started_at = excluded.started_at, ended_at = excluded.ended_at, cached = excluded.cached"
)
_CACHE_SET = "value = excluded.value, created_at = excluded.created_at, expires_at = excluded.expires_at"
_RUN_COLUMNS = (
    "id, workflow_hash, status, inputs, outputs, error, created_at, started_at, ended_at, metadata,"
    " parent_run_id, owner, lease_expires_at"
)
_LEASE_FREE = "runs.owner IS NULL OR runs.owner = ? OR runs.lease_expires_at <= ?"
_TAKE = "UPDATE runs SET owner=?, lease_expires_at=? WHERE runs.id = ? AND "


def _values(count: int) -> str:
    return f"VALUES ({', '.join(['?'] * count)})"


#: SQLite's statements, as SQLAlchemy compiles those of ``_queries.write_statements`` (see the test)
SQLITE: Final = {
    "upsert_nodes": _sqlite(
        "INSERT INTO node_records (run_id, node_id, scope, attempt, status, inputs, outputs, branch, error,"
        f" started_at, ended_at, cached) {_values(12)}"
        f" ON CONFLICT (run_id, node_id, scope) DO UPDATE SET {_NODE_SET}"
    ),
    "last_seq": _sqlite(
        "SELECT runs.id, (SELECT max(events.seq) AS max_1 \nFROM events \nWHERE events.run_id = runs.id)"
        " AS anon_1 \nFROM runs \nWHERE runs.id = ?"
    ),
    "insert_events": _sqlite(
        f"INSERT INTO events (run_id, seq, type, data, at, n_events, node_id) {_values(7)}"
    ),
    "put_workflow": _sqlite(
        f"INSERT INTO workflows (hash, workflow) {_values(2)} ON CONFLICT (hash) DO NOTHING"
    ),
    "put_cache": _sqlite(
        f'INSERT INTO cache_entries ("key", value, created_at, expires_at) {_values(4)}'
        f' ON CONFLICT ("key") DO UPDATE SET {_CACHE_SET}'
    ),
    "insert_run": _sqlite(f"INSERT INTO runs ({_RUN_COLUMNS}) {_values(13)}"),
    "find_run": _sqlite("SELECT runs.id \nFROM runs \nWHERE runs.id = ?"),
    # rows: (id, owner, now, expires[, previous owner])
    "acquire": _sqlite(f"{_TAKE}({_LEASE_FREE})", (1, 3, 0, 1, 2)),
    "take_over": _sqlite(f"{_TAKE}({_LEASE_FREE} OR runs.owner = ?)", (1, 3, 0, 1, 2, 4)),
    # rows: (id, owner, expires) and (id, owner)
    "renew": _sqlite("UPDATE runs SET lease_expires_at=? WHERE runs.id = ? AND runs.owner = ?", (2, 0, 1)),
    "release": _sqlite(
        "UPDATE runs SET owner=NULL, lease_expires_at=NULL WHERE runs.id = ? AND runs.owner = ?"
    ),
}
#: the statement keys of each entry (what a row holds, in order), for the compiled dialects
KEYS: Final[dict[str, tuple[str, ...]]] = {
    "upsert_nodes": (
        "run_id",
        "node_id",
        "scope",
        "attempt",
        "status",
        "inputs",
        "outputs",
        "branch",
        "error",
        "started_at",
        "ended_at",
        "cached",
    ),
    "last_seq": ("b_run_id",),
    "insert_events": ("run_id", "seq", "type", "data", "at", "n_events", "node_id"),
    "put_workflow": ("hash", "workflow"),
    "put_cache": ("key", "value", "created_at", "expires_at"),
    "insert_run": RUN_KEYS,
    "find_run": ("b_id",),
    "acquire": ("b_id", "b_owner", "b_now", "b_expires"),
    "take_over": ("b_id", "b_owner", "b_now", "b_expires", "b_previous"),
    "renew": ("b_id", "b_owner", "b_expires"),
    "release": ("b_id", "b_owner"),
}


def sqlite_update_run(keys: tuple[str, ...]) -> Compiled:
    """``UPDATE runs SET <keys> WHERE id``, for a row of the values of ``keys`` then the run's id."""
    ordered = sorted(range(len(keys)), key=lambda index: RUN_KEYS.index(keys[index]))
    sets = ", ".join(f"{_RUN_COLUMN_NAMES.get(keys[index], keys[index])}=?" for index in ordered)
    order = (*ordered, len(keys))
    return _sqlite(
        f"UPDATE runs SET {sets} WHERE runs.id = ?", None if order == tuple(range(len(order))) else order
    )


class Writes:
    """The write path's operations, each on a DBAPI connection inside the caller's transaction."""

    def __init__(
        self,
        statements: dict[str, Compiled],
        update_run: Callable[[tuple[str, ...]], Compiled],
        lock_run: Compiled | None,
    ) -> None:
        self._s = statements
        self._update_run = update_run
        self._updates: dict[tuple[str, ...], Compiled] = {}  # by the columns they set
        self._lock_run = lock_run  # PostgreSQL: lock a run's row before numbering its events

    @classmethod
    def sqlite(cls) -> Writes:
        return cls(SQLITE, sqlite_update_run, None)

    # workflows and runs ----------------------------------------------------------------------------------

    def put_workflow(self, dbapi: Any, workflow_hash: str, text: str) -> None:
        self._s["put_workflow"].execute(dbapi, (workflow_hash, text)).close()

    def create_run(self, dbapi: Any, values: Row) -> None:
        """``values``: the run's columns (``RUN_KEYS``)."""
        run_id, parent_run_id = values[0], values[10]
        if self._exists(dbapi, run_id):
            raise StoreError(f"run {run_id!r} already exists")
        if parent_run_id is not None:
            self._require(dbapi, parent_run_id)
        self._s["insert_run"].execute(dbapi, values).close()

    def update_run(self, dbapi: Any, run_id: str, values: dict[str, Any]) -> None:
        """``values`` by column key (``RUN_KEYS``)."""
        keys = tuple(values)
        update = self._updates.get(keys)
        if update is None:
            update = self._updates[keys] = self._update_run(keys)
        if update.changed(dbapi, (*values.values(), run_id)) != 1:
            raise StoreError(f"unknown run {run_id!r}")

    # node records and events -----------------------------------------------------------------------------

    def record_nodes(
        self, dbapi: Any, nodes: Sequence[Row], events: Mapping[str, Sequence[EventValues]]
    ) -> dict[str, int]:
        """``nodes``: ``node_values``; ``events``: as ``append_events``."""
        seqs = self.append_events(dbapi, events)
        if nodes:
            try:
                self._s["upsert_nodes"].executemany(dbapi, nodes)
            except Exception as error:
                from sqlalchemy.exc import IntegrityError  # loaded by now: the driver's error became one

                if not isinstance(error, IntegrityError):
                    raise
                run_ids = sorted({node[0] for node in nodes})  # the run is not there (foreign key), mostly
                raise StoreError(f"cannot record nodes of run(s) {run_ids}: {error.orig}") from error
        return seqs

    def append_events(self, dbapi: Any, by_run: Mapping[str, Sequence[EventValues]]) -> dict[str, int]:
        """Number each run's events (``events_by_run``) after the run's last one, and write them as one row
        (log lines apart: see ``_ledger``); returns each run's first new seq. Appenders to one run take
        turns: SQLite writes one transaction at a time, and on PostgreSQL the run's row is locked first, in
        a statement of its own (a statement reads what was committed when it began, so the ``max(seq)`` is
        read after the lock is held)."""
        first_seq: dict[str, int] = {}
        if not by_run:
            return first_seq
        rows = []
        for run_id, run_events in by_run.items():
            if self._lock_run is not None:
                self._lock_run.execute(dbapi, (run_id,)).close()
            found = self._s["last_seq"].found(dbapi, (run_id,))
            if found is None:
                raise StoreError(f"unknown run {run_id!r}")
            first_seq[run_id] = (found[1] or 0) + 1
            rows.extend(ledger_rows(run_id, first_seq[run_id], run_events))
        self._s["insert_events"].executemany(dbapi, rows)
        return first_seq

    # result cache ----------------------------------------------------------------------------------------

    def put_cache(self, dbapi: Any, row: tuple[str, str, float, float | None]) -> None:
        """``row``: key, value text, created_at, expires_at."""
        self._s["put_cache"].execute(dbapi, row).close()

    # leases ----------------------------------------------------------------------------------------------

    def acquire_lease(self, dbapi: Any, run_id: str, owner: str, ttl_s: float, now: float) -> bool:
        return self._changed(dbapi, "acquire", (run_id, owner, now, now + ttl_s))

    def take_over_lease(
        self, dbapi: Any, run_id: str, owner: str, previous_owner: str, ttl_s: float, now: float
    ) -> bool:
        return self._changed(dbapi, "take_over", (run_id, owner, now, now + ttl_s, previous_owner))

    def renew_lease(self, dbapi: Any, run_id: str, owner: str, ttl_s: float, now: float) -> bool:
        return self._changed(dbapi, "renew", (run_id, owner, now + ttl_s))

    def release_lease(self, dbapi: Any, run_id: str, owner: str) -> bool:
        return self._changed(dbapi, "release", (run_id, owner))

    # helpers ---------------------------------------------------------------------------------------------

    def _changed(self, dbapi: Any, name: str, row: Row) -> bool:
        """Whether the update ``name`` (whose first key is the run's id) changed the run; raises if there is
        no such run."""
        if self._s[name].changed(dbapi, row) == 1:
            return True
        self._require(dbapi, row[0])
        return False

    def _exists(self, dbapi: Any, run_id: str) -> bool:
        return self._s["find_run"].found(dbapi, (run_id,)) is not None

    def _require(self, dbapi: Any, run_id: str) -> None:
        if not self._exists(dbapi, run_id):
            raise StoreError(f"unknown run {run_id!r}")
