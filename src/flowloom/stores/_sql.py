"""``SqlStore``: a ``RunStore`` on SQLAlchemy Core, for SQLite (the embedded default) and PostgreSQL.

Design: one for both dialects. Every call is one transaction, run in a worker thread
(``anyio.to_thread.run_sync``) and admitted by a per-store ``CapacityLimiter``. Reads are SQLAlchemy Core
(``_queries``); the write path -- everything recording a run does -- is statements compiled once and run on
the driver (``_statements``), and on SQLite needs no SQLAlchemy at all, so a process that only records runs
into an up-to-date file never imports it (see ``_database``).

- SQLite: one dedicated connection per store and a limiter of 1, so calls take turns on it without holding a
  thread while they wait. Write transactions start with ``BEGIN IMMEDIATE``: they take the file's write lock
  up front and wait (busy timeout) for other processes or stores instead of failing half-way. WAL mode lets
  readers in other connections run alongside; ``synchronous=NORMAL`` skips the fsync per commit (a commit can
  be lost on power failure, never on a process crash, and the file is never corrupted).
- SQLite, the hot path: a *small* call (one run's rows: a node record batch, a run row, a lease) runs on the
  event loop's own thread when the connection is idle, with a busy timeout of 0 (a write, in the driver's
  own transaction rather than SQLAlchemy's): a one-row WAL transaction
  takes tens of microseconds, a thread hand-off several times that. If another connection holds the write
  lock, the call does not wait there -- it goes to a worker thread and waits as above. So the loop is never
  blocked on a lock, only for the transaction's own work.
- PostgreSQL: a pool of connections and a limiter of the same size, so a thread never waits for the pool.
  Row locks make lease takeovers and event numbering safe between processes.

Why threads rather than SQLAlchemy's asyncio extension: the extension needs greenlet, which is not a
dependency, and SQLite has no asyncio driver here (no aiosqlite) -- so SQLite needs threads anyway, and one
code path for both dialects is simpler to reason about than two. The price is one thread hand-off per call
(tens to hundreds of microseconds depending on the machine), which ``record_nodes`` amortises over a batch.

Values are JSON text (see ``flowloom.stores``); they are encoded before the hand-off, so a value the caller
mutates after the call returns is stored as it was at the call. A call whose task is cancelled still ends
its transaction (committed or rolled back) before the cancellation reaches the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread

from flowloom.ir import (
    UNSET,
    CacheEntry,
    EventQuery,
    EventRow,
    Json,
    Keep,
    NewEvent,
    NodeRow,
    RunQuery,
    RunRow,
    Status,
    StoreError,
    TriggerFire,
    WaitRow,
    WorkflowDefinition,
    WorkflowSeen,
)

from . import _sqlite_reads as sqlite_reads
from ._codec import dumps
from ._database import PG_POOL_SIZE, Database, SqliteBusy, describe, parse_url
from ._statements import Writes, event_seqs, events_by_run, node_values, run_values

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from ._queries import Queries

T = TypeVar("T")


# Node records a write may hold to run on the event loop's thread (see _write): a batched flush (the journal's
# BATCH_ROWS) fits. A write's events are one row per run (see _ledger), so they count for little: up to
# SMALL_EVENTS of them (a node that logged thousands of lines goes to a worker thread).
SMALL_BATCH = 64
SMALL_EVENTS = 16 * SMALL_BATCH


class SqlStore:
    """A ``RunStore`` in a SQL database: ``sqlite:///path/to/file.db`` (or ``sqlite://`` in memory) or
    ``postgresql+psycopg://user[:password]@host:port/db``. The schema is created or upgraded by flowloom's
    migrations on open. See ``RunStore`` for each method; ``StoreError`` for every database failure."""

    def __init__(self, url: str) -> None:
        self._url = parse_url(url)
        sqlite = self._sqlite = self._url.dialect == "sqlite"
        self._limiter = anyio.CapacityLimiter(1 if sqlite else PG_POOL_SIZE)
        self._open_lock = anyio.Lock()
        self._database: Database | None = None
        # the write path; SQLite's needs no SQLAlchemy (see _statements)
        self._writes_made: Writes | None = Writes.sqlite() if sqlite else None
        self._queries_made: Queries | None = None

    def __repr__(self) -> str:
        return f"SqlStore({self._url.shown()!r})"

    @property
    def _writes(self) -> Writes:
        if self._writes_made is None:
            from ._queries import compiled_writes

            self._writes_made = compiled_writes(self._url.dialect)
        return self._writes_made

    @property
    def _queries(self) -> Queries:
        """The reads (SQLAlchemy Core), made on first need."""
        if self._queries_made is None:
            from ._queries import Queries

            self._queries_made = Queries()
        return self._queries_made

    @property
    def location(self) -> str:
        """Where the database is, without credentials (for messages)."""
        return describe(self._url)

    async def open(self) -> None:
        if self._database is None:
            async with self._open_lock:
                if self._database is None:
                    self._database = await anyio.to_thread.run_sync(partial(Database.open, self._url))

    async def close(self) -> None:
        async with self._open_lock:
            database, self._database = self._database, None
            if database is not None:
                await anyio.to_thread.run_sync(database.close, limiter=self._limiter)

    async def __aenter__(self) -> SqlStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _opened(self) -> Database:
        if self._database is None:
            await self.open()
        database = self._database
        if database is None:
            raise StoreError(f"{self.location} was closed")
        return database

    async def _call(self, fn: Callable[[Connection], T], *, small: bool = False) -> T:
        """``fn``, a read, in one transaction, in a worker thread. A ``small`` read on SQLite (one run's
        rows) runs right here on the event loop's thread when the connection is idle and the file not locked
        by another connection: a thread hand-off costs more than such a transaction."""
        database = await self._opened()
        if small and self._sqlite and self._limiter.borrowed_tokens == 0:
            with suppress(SqliteBusy):
                return database.call(fn, write=False, wait=False)
        return await anyio.to_thread.run_sync(partial(database.call, fn, write=False), limiter=self._limiter)

    async def _read(self, fn: Callable[[Any], T], *, small: bool = True) -> T:
        """SQLite only: ``fn(driver)``, a read of ``_sqlite_reads``, in one transaction on the driver; a
        ``small`` one on the event loop's thread when it can, as ``_call``'s."""
        database = await self._opened()
        if small and self._limiter.borrowed_tokens == 0:
            with suppress(SqliteBusy):
                return database.write(fn, wait=False, read_only=True)
        read = partial(database.write, fn, read_only=True)
        return await anyio.to_thread.run_sync(read, limiter=self._limiter)

    async def _call_write(self, fn: Callable[[Connection], T]) -> T:
        """``fn``, a write through SQLAlchemy (pruning), in one transaction, in a worker thread."""
        database = await self._opened()
        return await anyio.to_thread.run_sync(partial(database.call, fn, write=True), limiter=self._limiter)

    async def _write(self, fn: Callable[[Any], T], *, small: bool = True) -> T:
        """``fn(dbapi_connection)``, statements of the write path (``_statements``), in one transaction
        (``Database.write``). A ``small`` write on SQLite runs on the event loop's thread, as ``_call``'s
        small reads do; otherwise in a worker thread."""
        database = await self._opened()
        if small and self._sqlite and self._limiter.borrowed_tokens == 0:
            with suppress(SqliteBusy):
                return database.write(fn, wait=False)
        return await anyio.to_thread.run_sync(partial(database.write, fn), limiter=self._limiter)

    # workflows -------------------------------------------------------------------------------------------

    async def put_workflow(self, workflow_hash: str, workflow: Json) -> None:
        text = dumps(workflow)
        await self._write(lambda dbapi: self._writes.put_workflow(dbapi, workflow_hash, text))

    async def get_workflow(self, workflow_hash: str) -> Json | None:
        if self._sqlite:
            return await self._read(lambda driver: sqlite_reads.get_workflow(driver, workflow_hash))
        return await self._call(lambda c: self._queries.get_workflow(c, workflow_hash), small=True)

    # runs ------------------------------------------------------------------------------------------------

    async def create_run(self, run: RunRow) -> None:
        values = run_values(run)
        await self._write(lambda dbapi: self._writes.create_run(dbapi, values))

    async def get_run(self, run_id: str) -> RunRow | None:
        if self._sqlite:
            return await self._read(lambda driver: sqlite_reads.get_run(driver, run_id))
        return await self._call(lambda c: self._queries.get_run(c, run_id), small=True)

    async def run_ids_with_prefix(self, prefix: str, limit: int = 2) -> list[str]:
        return await self._call(lambda c: self._queries.run_ids_with_prefix(c, prefix, limit), small=True)

    async def update_run(
        self,
        run_id: str,
        *,
        status: Status | Keep = UNSET,
        outputs: Json | Keep = UNSET,
        error: str | Keep | None = UNSET,
        started_at: float | Keep | None = UNSET,
        ended_at: float | Keep | None = UNSET,
        metadata: dict[str, Json] | Keep = UNSET,
    ) -> None:
        values: dict[str, Any] = {}
        if status is not UNSET:
            values["status"] = Status(status).value
        if outputs is not UNSET:
            values["outputs"] = dumps(outputs)
        if metadata is not UNSET:
            values["meta"] = dumps(metadata)
        given = {"error": error, "started_at": started_at, "ended_at": ended_at}
        values |= {name: value for name, value in given.items() if value is not UNSET}
        if not values:
            if await self.get_run(run_id) is None:
                raise StoreError(f"unknown run {run_id!r}")
            return
        await self._write(lambda dbapi: self._writes.update_run(dbapi, run_id, values))

    async def list_runs(self, status: Status | None = None, limit: int = 50, offset: int = 0) -> list[RunRow]:
        return await self._call(lambda c: self._queries.list_runs(c, status, limit, offset))

    async def count_runs(self, status: Status | None = None) -> int:
        return await self._call(lambda c: self._queries.count_runs(c, status))

    async def query_runs(self, query: RunQuery, limit: int = 50) -> list[RunRow]:
        from ._runquery import sql_query_runs  # the reads load on first use (see _queries)

        return await self._call(lambda c: sql_query_runs(c, query, limit))

    async def count_runs_by_status(self, query: RunQuery) -> dict[Status, int]:
        from ._runquery import sql_count_by_status

        return await self._call(lambda c: sql_count_by_status(c, query))

    async def list_workflows(self, limit: int = 100) -> list[WorkflowSeen]:
        from ._runquery import sql_list_workflows

        return await self._call(lambda c: sql_list_workflows(c, limit))

    async def prune_runs(self, *, older_than: float, keep_last: int = 0) -> int:
        return await self._call_write(lambda c: self._queries.prune_runs(c, older_than, keep_last))

    # node records and events -----------------------------------------------------------------------------

    async def record_node(self, node: NodeRow, events: Sequence[NewEvent] = ()) -> list[int]:
        return await self.record_nodes((node,), events)

    async def record_nodes(self, nodes: Sequence[NodeRow], events: Sequence[NewEvent] = ()) -> list[int]:
        node_rows = [node_values(node) for node in nodes]
        by_run = events_by_run(events)
        first_seqs = await self._write(
            lambda dbapi: self._writes.record_nodes(dbapi, node_rows, by_run),
            small=len(node_rows) <= SMALL_BATCH and len(events) <= SMALL_EVENTS,
        )
        return event_seqs(events, first_seqs)

    async def get_nodes(self, run_id: str) -> list[NodeRow]:
        if self._sqlite:
            return await self._read(lambda driver: sqlite_reads.get_nodes(driver, run_id), small=False)
        return await self._call(lambda c: self._queries.get_nodes(c, run_id))

    async def append_events(self, events: Sequence[NewEvent]) -> list[int]:
        by_run = events_by_run(events)
        first_seqs = await self._write(lambda dbapi: self._writes.append_events(dbapi, by_run))
        return event_seqs(events, first_seqs)

    async def get_events(self, run_id: str, after: int = 0, limit: int | None = None) -> list[EventRow]:
        return await self._call(lambda c: self._queries.get_events(c, run_id, after, limit))

    async def query_events(self, run_id: str, query: EventQuery, limit: int | None = None) -> list[EventRow]:
        from ._eventreads import sql_query_events

        return await self._call(lambda c: sql_query_events(c, run_id, query, limit))

    # result cache ----------------------------------------------------------------------------------------

    async def put_cache(self, entry: CacheEntry) -> None:
        text = dumps(entry.value)
        row = (entry.key, text, entry.created_at, entry.expires_at)
        await self._write(lambda dbapi: self._writes.put_cache(dbapi, row))

    async def get_cache(self, key: str, now: float) -> CacheEntry | None:
        return await self._call(lambda c: self._queries.get_cache(c, key, now), small=True)

    async def prune_cache(self, now: float) -> int:
        return await self._call_write(lambda c: self._queries.prune_cache(c, now))

    # leases ----------------------------------------------------------------------------------------------

    async def acquire_lease(self, run_id: str, owner: str, ttl_s: float, now: float) -> bool:
        return await self._write(lambda dbapi: self._writes.acquire_lease(dbapi, run_id, owner, ttl_s, now))

    async def take_over_lease(
        self, run_id: str, owner: str, previous_owner: str, ttl_s: float, now: float
    ) -> bool:
        return await self._write(
            lambda dbapi: self._writes.take_over_lease(dbapi, run_id, owner, previous_owner, ttl_s, now),
            small=False,
        )

    async def renew_lease(self, run_id: str, owner: str, ttl_s: float, now: float) -> bool:
        return await self._write(lambda dbapi: self._writes.renew_lease(dbapi, run_id, owner, ttl_s, now))

    async def release_lease(self, run_id: str, owner: str) -> bool:
        return await self._write(lambda dbapi: self._writes.release_lease(dbapi, run_id, owner))

    async def runs_to_resume(self, now: float) -> list[RunRow]:
        return await self._call(lambda c: self._queries.runs_to_resume(c, now))

    # waits (rare: through SQLAlchemy, in a worker thread) -----------------------------------------------

    async def put_secrets(self, run_id: str, sealed: str) -> None:
        await self._call_write(lambda c: self._queries.put_secrets(c, run_id, sealed))

    async def get_secrets(self, run_id: str) -> str | None:
        return await self._call(lambda c: self._queries.get_secrets(c, run_id))

    async def put_waits(self, waits: Sequence[WaitRow]) -> None:
        from ._queries import wait_values

        rows = [wait_values(wait) for wait in waits]
        if rows:
            await self._call_write(lambda c: self._queries.put_waits(c, rows))

    async def get_waits(self, run_id: str) -> list[WaitRow]:
        if self._sqlite:
            return await self._read(lambda driver: sqlite_reads.get_waits(driver, run_id))
        return await self._call(lambda c: self._queries.get_waits(c, run_id))

    async def answer_wait(
        self, run_id: str, key: str | None, payload: Json, *, owner: str, ttl_s: float, now: float
    ) -> WaitRow:
        text = dumps(payload)
        if self._sqlite:
            return await self._write(
                lambda driver: sqlite_reads.answer_wait(driver, run_id, key, text, owner, ttl_s, now)
            )
        return await self._call_write(
            lambda c: self._queries.answer_wait(c, run_id, key, text, owner, ttl_s, now)
        )

    async def due_waits(self, now: float, limit: int = 100) -> list[WaitRow]:
        return await self._call(lambda c: self._queries.due_waits(c, now, limit))

    # saved workflows (rare: through SQLAlchemy, in a worker thread) ---------------------------------------

    async def save_definition(self, definition: WorkflowDefinition) -> WorkflowDefinition:
        from . import _definitions

        return await self._call_write(lambda c: _definitions.save_definition(c, definition))

    async def get_definition(self, definition_id: str) -> WorkflowDefinition | None:
        from . import _definitions

        return await self._call(lambda c: _definitions.get_definition(c, definition_id))

    async def list_definitions(self, limit: int = 1000) -> list[WorkflowDefinition]:
        from . import _definitions

        return await self._call(lambda c: _definitions.list_definitions(c, limit))

    async def delete_definition(self, definition_id: str) -> bool:
        from . import _definitions

        return await self._call_write(lambda c: _definitions.delete_definition(c, definition_id))

    # trigger fires ----------------------------------------------------------------------------------------

    async def claim_trigger_fire(self, fire: TriggerFire) -> bool:
        from . import _fires

        return await self._call_write(lambda c: _fires.claim_trigger_fire(c, fire))

    async def last_trigger_fires(self) -> dict[tuple[str, str], float]:
        from . import _fires

        return await self._call(_fires.last_trigger_fires)

    async def prune_trigger_fires(self, older_than: float) -> int:
        from . import _fires

        return await self._call_write(lambda c: _fires.prune_trigger_fires(c, older_than))
