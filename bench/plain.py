"""The plain-library alternatives to flowloom's speed tricks, switchable at run time, for ``bench/tricks.py``.

Each switch replaces one trick with what the library offers, by patching flowloom's modules in this process
(the bench's business only: nothing in ``src/`` or ``tests/`` patches flowloom). ``switch(name, plain)`` sets
it; a switch left off is the code as shipped. Imports are lazy, so a process that switches nothing (the "A"
side of a fresh-process comparison) imports nothing more than flowloom does.

- ``construct``: the flowgram loader builds its models with pydantic's ``model_construct`` instead of
  ``flowloom.ir.construct``.
- ``statements``: SQLite's write path runs SQLAlchemy Core statements (``conn.execute(insert(...))``) in
  SQLAlchemy's transactions instead of the written-out SQL on the driver (``stores._statements``).
- ``blocks``: the ledger gets one row per event instead of one block row per run and write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from functools import partial
from typing import Any

NAMES = ("construct", "statements", "blocks")

_originals: dict[str, Callable[[], None]] = {}  # name -> how to undo its switch


def switch(name: str, plain: bool) -> None:
    """``plain``: the library alternative of trick ``name``; otherwise the code as shipped."""
    if name not in NAMES:
        raise SystemExit(f"unknown trick {name!r}: one of {', '.join(NAMES)}")
    undo = _originals.pop(name, None)
    if undo is not None:
        undo()
    if plain:
        _originals[name] = _SWITCHES[name]()


def _setattr(owner: Any, attribute: str, value: Any) -> Callable[[], None]:
    original = owner.__dict__[attribute] if isinstance(owner, type) else getattr(owner, attribute)
    setattr(owner, attribute, value)
    return lambda: setattr(owner, attribute, original)


# construct --------------------------------------------------------------------------------------------


def _model_construct(cls: Any, values: Mapping[str, Any]) -> Any:
    return cls.model_construct(**values)


def _plain_construct() -> Callable[[], None]:
    from flowloom.formats.flowgram import _loader

    return _setattr(_loader, "construct", _model_construct)


# statements ----------------------------------------------------------------------------------------------


class CoreWrites:
    """``stores._statements.Writes`` on SQLAlchemy Core: each operation ``connection.execute``s the
    statements of ``stores._queries.write_statements`` with rows as dicts."""

    def __init__(self) -> None:
        from flowloom.stores._queries import write_statements

        self._s = write_statements("sqlite")

    def put_workflow(self, c: Any, workflow_hash: str, text: str) -> None:
        c.execute(self._s["put_workflow"], {"hash": workflow_hash, "workflow": text})

    def create_run(self, c: Any, values: Sequence[Any]) -> None:
        from flowloom.ir import StoreError
        from flowloom.stores._statements import RUN_KEYS

        row = dict(zip(RUN_KEYS, values, strict=True))
        if self._exists(c, row["id"]):
            raise StoreError(f"run {row['id']!r} already exists")
        if row["parent_run_id"] is not None:
            self._require(c, row["parent_run_id"])
        c.execute(self._s["insert_run"], row)

    def update_run(self, c: Any, run_id: str, values: dict[str, Any]) -> None:
        import sqlalchemy as sa

        from flowloom.ir import StoreError
        from flowloom.stores import _schema as t

        if c.execute(sa.update(t.runs).where(t.runs.c.id == run_id).values(values)).rowcount != 1:
            raise StoreError(f"unknown run {run_id!r}")

    def record_nodes(
        self, c: Any, nodes: Sequence[Sequence[Any]], events: Mapping[str, Sequence[Any]]
    ) -> dict[str, int]:
        from flowloom.stores._statements import KEYS

        seqs = self.append_events(c, events)
        if nodes:
            keys = KEYS["upsert_nodes"]
            c.execute(self._s["upsert_nodes"], [dict(zip(keys, node, strict=True)) for node in nodes])
        return seqs

    def append_events(self, c: Any, by_run: Mapping[str, Sequence[Any]]) -> dict[str, int]:
        from flowloom.ir import StoreError
        from flowloom.stores._ledger import ledger_rows
        from flowloom.stores._statements import KEYS

        first_seq: dict[str, int] = {}
        rows = []
        for run_id, run_events in by_run.items():
            found = c.execute(self._s["last_seq"], {"b_run_id": run_id}).first()
            if found is None:
                raise StoreError(f"unknown run {run_id!r}")
            first_seq[run_id] = (found[1] or 0) + 1
            rows.extend(
                dict(zip(KEYS["insert_events"], row, strict=True))
                for row in ledger_rows(run_id, first_seq[run_id], run_events)
            )
        if rows:
            c.execute(self._s["insert_events"], rows)
        return first_seq

    def put_cache(self, c: Any, row: Sequence[Any]) -> None:
        c.execute(
            self._s["put_cache"], dict(zip(("key", "value", "created_at", "expires_at"), row, strict=True))
        )

    def acquire_lease(self, c: Any, run_id: str, owner: str, ttl_s: float, now: float) -> bool:
        values = {"b_id": run_id, "b_owner": owner, "b_now": now, "b_expires": now + ttl_s}
        return self._changed(c, "acquire", values)

    def take_over_lease(
        self, c: Any, run_id: str, owner: str, previous_owner: str, ttl_s: float, now: float
    ) -> bool:
        values = {
            "b_id": run_id,
            "b_owner": owner,
            "b_now": now,
            "b_expires": now + ttl_s,
            "b_previous": previous_owner,
        }
        return self._changed(c, "take_over", values)

    def renew_lease(self, c: Any, run_id: str, owner: str, ttl_s: float, now: float) -> bool:
        return self._changed(c, "renew", {"b_id": run_id, "b_owner": owner, "b_expires": now + ttl_s})

    def release_lease(self, c: Any, run_id: str, owner: str) -> bool:
        return self._changed(c, "release", {"b_id": run_id, "b_owner": owner})

    def _changed(self, c: Any, name: str, values: dict[str, Any]) -> bool:
        if c.execute(self._s[name], values).rowcount == 1:
            return True
        self._require(c, values["b_id"])
        return False

    def _exists(self, c: Any, run_id: str) -> bool:
        return c.execute(self._s["find_run"], {"b_id": run_id}).first() is not None

    def _require(self, c: Any, run_id: str) -> None:
        from flowloom.ir import StoreError

        if not self._exists(c, run_id):
            raise StoreError(f"unknown run {run_id!r}")


def _plain_statements() -> Callable[[], None]:
    import anyio.to_thread

    from flowloom.stores import _sql

    core: list[CoreWrites] = []  # made on first use, as SqlStore makes its write path
    shipped = _sql.SqlStore.__dict__["_writes"].fget

    def writes(store: Any) -> Any:
        if not store._sqlite:
            return shipped(store)
        if not core:
            core.append(CoreWrites())
        return core[0]

    async def write(store: Any, fn: Callable[[Any], Any], *, small: bool = True) -> Any:
        # SqlStore._write, with SQLAlchemy's connection and transaction (Database.call), not the driver's
        database = await store._opened()
        if small and store._sqlite and store._limiter.borrowed_tokens == 0:
            with suppress(_sql.SqliteBusy):
                return database.call(fn, write=True, wait=False)
        return await anyio.to_thread.run_sync(partial(database.call, fn, write=True), limiter=store._limiter)

    undo_writes = _setattr(_sql.SqlStore, "_writes", property(writes))
    undo_write = _setattr(_sql.SqlStore, "_write", write)

    def undo() -> None:
        undo_write()
        undo_writes()

    return undo


# blocks -----------------------------------------------------------------------------------------------


def _plain_blocks() -> Callable[[], None]:
    from flowloom.ir import StoreError
    from flowloom.stores._ledger import LOG_EVENT, log_node
    from flowloom.stores._statements import Writes

    def append_events(self: Any, dbapi: Any, by_run: Mapping[str, Sequence[Any]]) -> dict[str, int]:
        # Writes.append_events, one row per event (n_events = 1, as before schema 0003; a log line's row
        # names its node, as the ledger's index needs)
        first_seq: dict[str, int] = {}
        rows = []
        for run_id, run_events in by_run.items():
            found = self._s["last_seq"].found(dbapi, (run_id,))
            if found is None:
                raise StoreError(f"unknown run {run_id!r}")
            first = first_seq[run_id] = (found[1] or 0) + 1
            rows.extend(
                (run_id, first + i, kind, data, at, 1, log_node(data) if kind == LOG_EVENT else None)
                for i, (kind, data, at) in enumerate(run_events)
            )
        if rows:
            self._s["insert_events"].executemany(dbapi, rows)
        return first_seq

    return _setattr(Writes, "append_events", append_events)


_SWITCHES: dict[str, Callable[[], Callable[[], None]]] = {
    "construct": _plain_construct,
    "statements": _plain_statements,
    "blocks": _plain_blocks,
}
