"""flowloom.stores: every record type round-trips on MemoryStore, SQLite and PostgreSQL; concurrency, leases,
retention, the result cache, migrations and bad databases on the SQL stores."""

from __future__ import annotations

import hashlib
import itertools
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import flowloom.stores
from _postgres import PG_TIMEOUT, create_database, drop_database, free_port, postgres_server  # noqa: F401
from flowloom.ir import (
    EncodedEvents,
    RawJson,
    Status,
    TriggerFire,
    WaitError,
    WaitKeyRequired,
    WaitRow,
    WaitStatus,
    WorkflowDefinition,
)
from flowloom.stores import (
    UNSERIALIZABLE,
    CacheEntry,
    EventRow,
    MemoryStore,
    NewEvent,
    NodeRow,
    RunRow,
    RunStore,
    SqlStore,
    StoreError,
)
from flowloom.stores._database import SCHEMA_HEAD, alembic_config
from flowloom.stores._queries import compiled_writes, update_run_statement
from flowloom.stores._schema import metadata
from flowloom.stores._statements import KEYS, Writes, sqlite_update_run

pytestmark = pytest.mark.anyio

SQL_KINDS = ["sqlite", pytest.param("postgresql", marks=PG_TIMEOUT)]
ALL_KINDS = ["memory", *SQL_KINDS]
TABLES = {
    "alembic_version",
    "workflows",
    "runs",
    "node_records",
    "events",
    "cache_entries",
    "waits",
    "workflow_definitions",
    "trigger_fires",
    "run_secrets",
}
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def _database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    url = create_database(request.getfixturevalue("postgres_url"))
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture(params=SQL_KINDS)
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own: a SQLite file, or a new database on the session's PostgreSQL server."""
    yield from _database_url(request, tmp_path)


@pytest.fixture(params=ALL_KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """Like ``sql_url``, plus ``None`` for a MemoryStore."""
    if request.param == "memory":
        yield None
    else:
        yield from _database_url(request, tmp_path)


@pytest.fixture
async def store(store_url: str | None, anyio_backend: str) -> AsyncIterator[RunStore]:
    async with MemoryStore() if store_url is None else SqlStore(store_url) as opened:
        yield opened


def run(
    run_id: str, *, created_at: float = 1000.0, status: Status = Status.PROCESSING, **fields: Any
) -> RunRow:
    return RunRow(id=run_id, workflow_hash="wf", status=status, created_at=created_at, **fields)


def node(run_id: str, node_id: str, **fields: Any) -> NodeRow:
    return NodeRow(run_id=run_id, node_id=node_id, status=fields.pop("status", Status.SUCCEEDED), **fields)


def event(run_id: str, kind: str = "node_succeeded", **data: Any) -> NewEvent:
    return NewEvent(run_id=run_id, type=kind, data=data, at=1001.5)


# round trips ---------------------------------------------------------------------------------------------


async def test_workflow_round_trip(store: RunStore) -> None:
    workflow = {"nodes": [{"id": "start_0", "type": "start", "data": {"title": "Start ✓"}}], "edges": []}
    await store.put_workflow("abc123", workflow)
    await store.put_workflow("abc123", {"ignored": "the first stored version stays"})
    assert await store.get_workflow("abc123") == workflow
    assert await store.get_workflow("missing") is None


async def test_run_round_trip_update_and_listing(store: RunStore) -> None:
    parent = run("parent", created_at=1000.0, status=Status.SUCCEEDED, ended_at=1003.25)
    child = run(
        "child",
        created_at=1001.0,
        inputs={"x": 1, "list": [1.5, "two", None, True]},
        metadata={"tags": ["a"], "by": "cli"},
        parent_run_id="parent",
        owner="engine-1",
        lease_expires_at=1030.0,
        started_at=1001.125,
    )
    await store.create_run(parent)
    await store.create_run(child)
    assert await store.get_run("parent") == parent
    assert await store.get_run("child") == child
    assert await store.get_run("missing") is None

    await store.update_run("child", status=Status.FAILED, outputs={"y": 2}, error="boom", ended_at=1002.0)
    updated = await store.get_run("child")
    assert updated is not None
    assert (updated.status, updated.outputs, updated.error, updated.ended_at) == (
        Status.FAILED,
        {"y": 2},
        "boom",
        1002.0,
    )
    assert updated.inputs == child.inputs and updated.metadata == child.metadata  # untouched fields
    await store.update_run("child", error=None, metadata={"retried": True})
    updated = await store.get_run("child")
    assert updated is not None and updated.error is None and updated.metadata == {"retried": True}

    for i in range(5):
        await store.create_run(run(f"r{i}", created_at=2000.0 + i, status=Status.SUCCEEDED))
    assert [r.id for r in await store.list_runs()] == ["r4", "r3", "r2", "r1", "r0", "child", "parent"]
    assert [r.id for r in await store.list_runs(limit=2, offset=1)] == ["r3", "r2"]
    assert [r.id for r in await store.list_runs(status=Status.FAILED)] == ["child"]
    assert (await store.count_runs(), await store.count_runs(Status.FAILED)) == (7, 1)

    with pytest.raises(StoreError, match="already exists"):
        await store.create_run(run("r0"))
    with pytest.raises(StoreError, match="unknown run"):
        await store.update_run("missing", status=Status.CANCELED)
    with pytest.raises(StoreError, match="unknown run"):
        await store.create_run(run("orphan", parent_run_id="missing"))


async def test_node_records_and_events_round_trip(store: RunStore) -> None:
    await store.create_run(run("r"))
    first = node("r", "llm_1", status=Status.PROCESSING, inputs={"prompt": "hi"}, started_at=1.0)
    assert await store.record_node(first, [event("r", "node_started", node="llm_1")]) == [1]
    assert await store.get_nodes("r") == [first]

    retried = node(
        "r",
        "llm_1",
        attempt=2,
        inputs={"prompt": "hi"},
        outputs={"text": "hello"},
        started_at=1.0,
        ended_at=2.5,
        cached=True,
    )
    in_loops = [node("r", "body", scope=scope, outputs={"i": list(scope)}) for scope in [(10,), (2,), (1, 0)]]
    branch = node("r", "cond", branch="if_0", error=None)
    failed = node("r", "code", status=Status.FAILED, error="ZeroDivisionError: division by zero")
    events = [event("r", node=n.node_id) for n in (retried, *in_loops, branch, failed)]
    assert await store.record_nodes([retried, *in_loops, branch, failed], events) == [2, 3, 4, 5, 6, 7]

    assert await store.get_nodes("r") == [
        in_loops[2],  # body (1, 0)
        in_loops[1],  # body (2,)
        in_loops[0],  # body (10,)
        failed,
        branch,
        retried,  # the second attempt replaced the first
    ]
    ledger = await store.get_events("r")
    assert [e.seq for e in ledger] == [1, 2, 3, 4, 5, 6, 7]
    assert ledger[0] == EventRow(run_id="r", seq=1, type="node_started", data={"node": "llm_1"}, at=1001.5)
    assert [e.seq for e in await store.get_events("r", after=3, limit=2)] == [4, 5]
    assert await store.append_events([event("r", "run_finished")]) == [8]
    assert await store.get_events("missing") == [] and await store.get_nodes("missing") == []


async def test_encoded_events_are_new_events_with_their_data_as_text(store: RunStore) -> None:
    """A journal hands its events over as ``EncodedEvents``: a sequence of ``NewEvent`` whose data is JSON
    text, which every store records as it would the decoded events."""
    encoded = EncodedEvents("r", [("a", '{"i":1}', 1.5), ("b", "[true,null]", 2.0), ("c", '"x"', 2.5)])
    assert len(encoded) == 3 and list(encoded)[1] == NewEvent("r", "b", RawJson("[true,null]"), 2.0)
    assert encoded[-1].data == '"x"' and type(encoded[-1].data) is RawJson
    assert [e.type for e in encoded[1:]] == ["b", "c"]
    await store.create_run(run("r"))
    assert await store.append_events([event("r", "first")]) == [1]
    assert await store.record_nodes([node("r", "a")], encoded) == [2, 3, 4]
    assert await store.record_nodes([], EncodedEvents("r", [])) == []
    assert await store.append_events(EncodedEvents("r", [("d", "{}", 3.0)])) == [5]
    ledger = await store.get_events("r")
    assert [(e.seq, e.type, e.data, e.at) for e in ledger[1:]] == [
        (2, "a", {"i": 1}, 1.5),
        (3, "b", [True, None], 2.0),
        (4, "c", "x", 2.5),
        (5, "d", {}, 3.0),
    ]


async def test_a_batch_for_an_unknown_run_writes_nothing(store: RunStore) -> None:
    await store.create_run(run("r"))
    with pytest.raises(StoreError):
        await store.record_nodes([node("r", "a"), node("missing", "b")], [event("r")])
    with pytest.raises(StoreError, match="unknown run"):
        await store.record_nodes([node("r", "a")], [event("r"), event("missing")])
    with pytest.raises(StoreError, match="unknown run"):
        await store.append_events([event("missing")])
    assert await store.get_nodes("r") == [] and await store.get_events("r") == []
    assert await store.append_events([event("r")]) == [1]  # no seq was used up


async def test_cache_ttl_and_pruning(store: RunStore) -> None:
    forever = CacheEntry(key="a" * 64, value={"outputs": [1, 2]}, created_at=100.0)
    short = CacheEntry(key="b" * 64, value="short", created_at=100.0, expires_at=110.0)
    await store.put_cache(forever)
    await store.put_cache(short)
    assert await store.get_cache(forever.key, now=1e12) == forever
    assert await store.get_cache(short.key, now=109.9) == short
    assert await store.get_cache(short.key, now=110.0) is None  # expired at expires_at
    assert await store.get_cache("c" * 64, now=0.0) is None

    replaced = CacheEntry(key=short.key, value="new", created_at=120.0, expires_at=130.0)
    await store.put_cache(replaced)
    assert await store.get_cache(short.key, now=125.0) == replaced
    assert await store.prune_cache(now=125.0) == 0
    assert await store.prune_cache(now=130.0) == 1
    assert await store.get_cache(short.key, now=0.0) is None  # gone, not just hidden
    assert await store.get_cache(forever.key, now=130.0) == forever


async def test_leases_and_runs_to_resume(store: RunStore) -> None:
    await store.create_run(run("a", created_at=1.0))
    await store.create_run(run("b", created_at=2.0, owner="old", lease_expires_at=50.0))
    await store.create_run(run("c", created_at=3.0, owner="live", lease_expires_at=500.0))
    await store.create_run(run("done", created_at=4.0, status=Status.SUCCEEDED))
    assert [r.id for r in await store.runs_to_resume(now=100.0)] == ["a", "b"]

    assert await store.acquire_lease("a", "me", ttl_s=30.0, now=100.0)  # no owner
    assert await store.acquire_lease("b", "me", ttl_s=30.0, now=100.0)  # expired
    assert not await store.acquire_lease("c", "me", ttl_s=30.0, now=100.0)  # held
    assert await store.acquire_lease("a", "me", ttl_s=30.0, now=110.0)  # mine already
    leased = await store.get_run("a")
    assert leased is not None and (leased.owner, leased.lease_expires_at) == ("me", 140.0)
    assert await store.runs_to_resume(now=120.0) == []
    assert [r.id for r in await store.runs_to_resume(now=140.0)] == ["a", "b"]  # expired at expiry

    assert await store.renew_lease("a", "me", ttl_s=60.0, now=130.0)
    assert not await store.renew_lease("c", "me", ttl_s=60.0, now=130.0)
    renewed = await store.get_run("a")
    assert renewed is not None and renewed.lease_expires_at == 190.0
    assert not await store.release_lease("a", "someone-else")
    assert await store.release_lease("a", "me")
    released = await store.get_run("a")
    assert released is not None and (released.owner, released.lease_expires_at) == (None, None)
    assert [r.id for r in await store.runs_to_resume(now=125.0)] == ["a"]  # b is held until 130

    # an owner known to be gone is taken over before its lease expires, by one caller only
    assert not await store.take_over_lease("c", "me", previous_owner="not-c-owner", ttl_s=30.0, now=100.0)
    assert await store.take_over_lease("c", "me", previous_owner="live", ttl_s=30.0, now=100.0)
    assert not await store.take_over_lease("c", "rival", previous_owner="live", ttl_s=30.0, now=101.0)
    taken = await store.get_run("c")
    assert taken is not None and (taken.owner, taken.lease_expires_at) == ("me", 130.0)

    for call in (
        store.take_over_lease("missing", "me", "old", 1.0, 0.0),
        store.acquire_lease("missing", "me", 1.0, 0.0),
        store.renew_lease("missing", "me", 1.0, 0.0),
        store.release_lease("missing", "me"),
    ):
        with pytest.raises(StoreError, match="unknown run"):
            await call


async def test_retention_pruning(store: RunStore) -> None:
    for i in range(6):
        await store.create_run(run(f"old{i}", created_at=100.0 + i, status=Status.SUCCEEDED))
        await store.record_node(node(f"old{i}", "n"), [event(f"old{i}")])
    await store.create_run(run("live", created_at=50.0, status=Status.PROCESSING))
    await store.create_run(run("failed", created_at=60.0, status=Status.FAILED))
    await store.create_run(run("child", created_at=500.0, status=Status.SUCCEEDED, parent_run_id="old0"))
    await store.create_run(run("new", created_at=400.0, status=Status.SUCCEEDED))

    # older than 200: old0..old5 and failed; the 3 newest runs overall (child, new, old5) stay
    assert await store.prune_runs(older_than=200.0, keep_last=3) == 6
    assert {r.id for r in await store.list_runs()} == {"live", "child", "new", "old5"}
    assert await store.get_nodes("old0") == [] and await store.get_events("old0") == []
    assert await store.get_nodes("old5") != [] and await store.get_events("old5") != []
    orphan = await store.get_run("child")
    assert orphan is not None and orphan.parent_run_id is None

    assert await store.prune_runs(older_than=1e9) == 3  # never the live one
    assert [r.id for r in await store.list_runs()] == ["live"]


async def test_unserializable_values_become_placeholders(store: RunStore) -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    await store.create_run(run("r", inputs={"ok": 1, "obj": object(), "raw": b"x"}, metadata={"s": {1}}))
    await store.record_node(
        node("r", "n", outputs=cycle, inputs={(1, 2): "tuple key"}), [event("r", v=Path())]
    )
    await store.put_cache(CacheEntry(key="k" * 64, value=[1, object()], created_at=0.0))

    stored = await store.get_run("r")
    assert stored is not None
    assert stored.inputs == {"ok": 1, "obj": {UNSERIALIZABLE: "object"}, "raw": {UNSERIALIZABLE: "bytes"}}
    assert stored.metadata == {"s": {UNSERIALIZABLE: "set"}}
    [record] = await store.get_nodes("r")
    assert record.outputs == {UNSERIALIZABLE: "list"}  # a cycle: the whole value
    assert record.inputs == {UNSERIALIZABLE: "dict"}  # a key that is not a string: the whole value
    [ledger] = await store.get_events("r")
    assert ledger.data == {"v": {UNSERIALIZABLE: type(Path()).__name__}}
    cached = await store.get_cache("k" * 64, now=0.0)
    assert cached is not None and cached.value == [1, {UNSERIALIZABLE: "object"}]


async def test_stored_values_are_copies(store: RunStore) -> None:
    inputs: dict[str, Any] = {"items": [1]}
    await store.create_run(run("r", inputs=inputs))
    inputs["items"].append(2)
    stored = await store.get_run("r")
    assert stored is not None and stored.inputs == {"items": [1]}
    stored.inputs["items"].append(3)
    again = await store.get_run("r")
    assert again is not None and again.inputs == {"items": [1]}


# SQL stores: concurrency and leases between stores ---------------------------------------------------------


async def test_concurrent_writers_lose_nothing(sql_url: str, anyio_backend: str) -> None:
    writers, per_writer = 20, 50
    stores = [SqlStore(sql_url) for _ in range(4)]
    async with stores[0], stores[1], stores[2], stores[3]:
        await stores[0].create_run(run("shared"))
        for w in range(writers):
            await stores[0].create_run(run(f"w{w}"))

        async def write(w: int) -> None:
            mine = stores[w % len(stores)]
            for i in range(per_writer):
                record = node(f"w{w}", f"n{i}", scope=(i % 3,), outputs={"w": w, "i": i})
                await mine.record_node(record, [event("shared", w=w, i=i)])

        async with anyio.create_task_group() as group:
            for w in range(writers):
                group.start_soon(write, w)

        for w in range(writers):
            records = await stores[1].get_nodes(f"w{w}")
            assert sorted(r.outputs["i"] for r in records) == list(range(per_writer))
        ledger = await stores[2].get_events("shared")
        assert [e.seq for e in ledger] == list(range(1, writers * per_writer + 1))
        assert {(e.data["w"], e.data["i"]) for e in ledger} == {
            (w, i) for w in range(writers) for i in range(per_writer)
        }


async def test_two_engines_racing_for_expired_leases(sql_url: str, anyio_backend: str) -> None:
    races = 50
    async with SqlStore(sql_url) as engine_a, SqlStore(sql_url) as engine_b:
        for i in range(races):
            await engine_a.create_run(run(f"r{i}", owner="dead-engine", lease_expires_at=50.0))
        wins: dict[str, list[str]] = {f"r{i}": [] for i in range(races)}

        async def take(store: SqlStore, owner: str, run_id: str) -> None:
            if await store.acquire_lease(run_id, owner, ttl_s=30.0, now=100.0):
                wins[run_id].append(owner)

        async with anyio.create_task_group() as group:
            for i in range(races):
                group.start_soon(take, engine_a, "engine-a", f"r{i}")
                group.start_soon(take, engine_b, "engine-b", f"r{i}")

        for run_id, owners in wins.items():
            assert len(owners) == 1, (run_id, owners)
            stored = await engine_b.get_run(run_id)
            assert stored is not None and stored.owner == owners[0]
        assert await engine_a.runs_to_resume(now=100.0) == []


# SQL stores: migrations and bad databases ---------------------------------------------------------------


@contextmanager
def _transaction(url: str) -> Iterator[sa.Connection]:
    """A connection of its own to the database at ``url``, in one transaction, committed at the end."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


def _alembic(connection: sa.Connection, step: str, revision: str) -> None:
    """Alembic's ``upgrade`` or ``downgrade`` to ``revision``, on ``connection``."""
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    getattr(command, step)(config, revision)


def _inspect(url: str) -> tuple[set[str], list[str], list[Any]]:
    with _transaction(url) as connection:
        tables = set(sa.inspect(connection).get_table_names())
        versions = list(connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
        diffs = compare_metadata(MigrationContext.configure(connection), metadata)
        return tables, versions, diffs


def _set_version(url: str, version: str) -> None:
    with _transaction(url) as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": version})


async def test_stores_opening_an_empty_database_together_migrate_it_once(
    sql_url: str, anyio_backend: str
) -> None:
    stores = [SqlStore(sql_url) for _ in range(5)]
    async with anyio.create_task_group() as group:
        for store in stores:
            group.start_soon(store.open)
    for i, store in enumerate(stores):
        await store.create_run(run(f"r{i}"))
    assert len(await stores[0].list_runs()) == len(stores)
    for store in stores:
        await store.close()
    _, versions, _ = await anyio.to_thread.run_sync(_inspect, sql_url)
    assert versions == [HEAD]


def test_the_schema_head_known_without_alembic_is_alembics_head() -> None:
    assert SCHEMA_HEAD == HEAD


async def test_migrations_bring_an_empty_database_to_head(sql_url: str, anyio_backend: str) -> None:
    store = SqlStore(sql_url)
    await store.put_workflow("h", {})  # the first call opens and migrates
    await store.close()
    tables, versions, diffs = await anyio.to_thread.run_sync(_inspect, sql_url)
    assert tables == TABLES
    assert versions == [HEAD]
    assert diffs == []  # the migrations build exactly the tables SqlStore queries
    async with SqlStore(sql_url) as again:  # at head: nothing to do, data kept
        assert await again.get_workflow("h") == {}


def _fill_at_0001(url: str) -> None:
    """A database at the first schema, holding a run with one node record and two ledger events."""
    with _transaction(url) as connection:
        _alembic(connection, "upgrade", "0001")
        connection.execute(
            sa.text(
                "INSERT INTO runs"
                " (id, workflow_hash, status, inputs, outputs, created_at, metadata, last_seq)"
                " VALUES ('old', 'wf', 'processing', '{}', '{}', 1000.0, '{}', 2)"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO node_records"
                " (run_id, node_id, scope, attempt, status, inputs, outputs, cached)"
                " VALUES ('old', 'a', '1/0', 1, 'succeeded', :inputs, :outputs, false)"
            ),
            {"inputs": '{"x":1}', "outputs": '{"y":2}'},
        )
        for seq in (1, 2):
            connection.execute(
                sa.text("INSERT INTO events VALUES ('old', :seq, 'NodeStarted', :data, 1000.5)"),
                {"seq": seq, "data": '{"n":1}'},
            )


async def test_a_database_at_the_first_schema_is_migrated_with_its_records(
    sql_url: str, anyio_backend: str
) -> None:
    await anyio.to_thread.run_sync(_fill_at_0001, sql_url)
    async with SqlStore(sql_url) as store:
        [record] = await store.get_nodes("old")
        assert (record.scope, record.inputs, record.outputs) == ((1, 0), {"x": 1}, {"y": 2})
        assert [e.seq for e in await store.get_events("old")] == [1, 2]
        assert await store.append_events([event("old"), event("old")]) == [3, 4]  # numbering goes on
    tables, versions, diffs = await anyio.to_thread.run_sync(_inspect, sql_url)
    assert (tables, versions, diffs) == (TABLES, [HEAD], [])


def _ledger_rows(url: str) -> list[tuple[Any, ...]]:
    with _transaction(url) as connection:
        query = "SELECT run_id, seq, n_events FROM events ORDER BY run_id, seq"
        return [tuple(row) for row in connection.execute(sa.text(query))]


async def test_a_write_stores_each_runs_events_as_one_block(sql_url: str, anyio_backend: str) -> None:
    async with SqlStore(sql_url) as store:
        for run_id in ("a", "b"):
            await store.create_run(run(run_id))
        assert await store.append_events([event("a", i=0)]) == [1]
        interleaved = [event("a", i=1), event("b", i=0), event("a", i=2), event("a", i=3)]
        assert await store.append_events(interleaved) == [2, 1, 3, 4]
        assert await store.append_events([event("b", i=1)]) == [2]
        rows = await anyio.to_thread.run_sync(_ledger_rows, sql_url)
        # a: one single event, then a block of three ending at seq 4; b: two single events
        assert rows == [("a", 1, 1), ("a", 4, 3), ("b", 1, 1), ("b", 2, 1)]
        assert [(e.seq, e.data["i"]) for e in await store.get_events("a")] == [(1, 0), (2, 1), (3, 2), (4, 3)]
        assert [e.seq for e in await store.get_events("a", after=2)] == [3, 4]
        assert [e.seq for e in await store.get_events("a", after=0, limit=2)] == [1, 2]
        assert [e.seq for e in await store.get_events("a", after=2, limit=1)] == [3]
        assert await store.get_events("a", after=4) == []
        [b0, b1] = await store.get_events("b")
        assert (b0.seq, b0.type, b0.data, b0.at) == (1, "node_succeeded", {"i": 0}, 1001.5)
        assert (b1.seq, b1.data) == (2, {"i": 1})


async def test_downgrading_the_event_blocks_splits_them_into_rows(sql_url: str, anyio_backend: str) -> None:
    async with SqlStore(sql_url) as store:
        await store.create_run(run("r"))
        await store.append_events([event("r", i=i) for i in range(3)])

    def downgrade() -> None:
        with _transaction(sql_url) as connection:
            _alembic(connection, "downgrade", "0002")
            query = "SELECT seq, type, data, at FROM events WHERE run_id = 'r' ORDER BY seq"
            rows = [tuple(row) for row in connection.execute(sa.text(query))]
        assert rows == [(i + 1, "node_succeeded", f'{{"i": {i}}}', 1001.5) for i in range(3)]

    await anyio.to_thread.run_sync(downgrade)


async def test_a_newer_schema_is_refused_untouched(sql_url: str, anyio_backend: str) -> None:
    async with SqlStore(sql_url) as store:
        await store.create_run(run("r"))
    await anyio.to_thread.run_sync(_set_version, sql_url, "9999_future")
    sqlite_file = anyio.Path(sa.make_url(sql_url).database or "") if sql_url.startswith("sqlite") else None
    before = await sqlite_file.read_bytes() if sqlite_file else b""

    with pytest.raises(StoreError) as refused:
        await SqlStore(sql_url).open()
    message = f"database schema 9999_future is newer than this flowloom ({HEAD}); upgrade flowloom"
    assert message in str(refused.value)

    if sqlite_file:
        assert await sqlite_file.read_bytes() == before
    tables, versions, _ = await anyio.to_thread.run_sync(_inspect, sql_url)
    assert tables == TABLES and versions == ["9999_future"]


@pytest.mark.parametrize(
    "content", [b"this is not a database\x00\xff" * 100, b"SQLite format 3\x00" + bytes(range(256)) * 16]
)
async def test_a_corrupt_sqlite_file_is_refused_untouched(tmp_path: Path, content: bytes) -> None:
    path = anyio.Path(tmp_path / "broken.db")
    await path.write_bytes(content)
    with pytest.raises(StoreError) as refused:
        await SqlStore(f"sqlite:///{path}").open()
    assert str(path) in str(refused.value)
    assert await path.read_bytes() == content
    assert sorted([p.name async for p in anyio.Path(tmp_path).iterdir()]) == ["broken.db"]


def _unreadable_sqlite_path(root: Path, layout: str) -> tuple[Path, Path]:
    """(a SQLite path that cannot be opened, a file of the user's there that must stay as it is)."""
    if layout == "directory at the path":
        (root / "runs.db").mkdir()
        (root / "runs.db" / "keep.txt").write_text("mine")
        return root / "runs.db", root / "runs.db" / "keep.txt"
    (root / "data").write_text("mine")
    return root / "data" / "runs.db", root / "data"


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("layout", ["directory at the path", "file at the parent"])
async def test_an_unreadable_sqlite_location_is_refused_untouched(tmp_path: Path, layout: str) -> None:
    path, mine = _unreadable_sqlite_path(tmp_path, layout)
    before = _tree(tmp_path)
    with pytest.raises(StoreError) as refused:
        await SqlStore(f"sqlite:///{path}").open()
    assert str(tmp_path) in str(refused.value) and "cannot open" in str(refused.value)
    assert _tree(tmp_path) == before
    assert await anyio.Path(mine).read_text() == "mine"


@PG_TIMEOUT
async def test_an_unreachable_postgres_is_a_clear_error(anyio_backend: str) -> None:
    port = free_port()  # nothing listens there
    store = SqlStore(f"postgresql+psycopg://flowloom:s3cret-pw@127.0.0.1:{port}/runs")
    assert "s3cret-pw" not in repr(store)
    with anyio.fail_after(10), pytest.raises(StoreError) as refused:
        await store.open()
    assert f"127.0.0.1:{port}" in str(refused.value)
    assert "s3cret-pw" not in str(refused.value)


async def test_public_names() -> None:
    assert flowloom.stores.__all__ == [
        "UNSERIALIZABLE",
        "UNSET",
        "CacheEntry",
        "EventRow",
        "EventsLost",
        "Json",
        "MemoryStore",
        "NewEvent",
        "NodeRow",
        "RunEvents",
        "RunRow",
        "RunStore",
        "Scope",
        "SqlStore",
        "StoreError",
        "Unset",
        "Wakeup",
        "follow_events",
    ]


async def test_unsupported_urls_are_refused() -> None:
    for url in ("mysql://u@h/db", "sqlite+aiosqlite:///x.db", "not a url"):
        with pytest.raises(StoreError):
            SqlStore(url)


async def test_sqlite_writes_a_batch_on_the_loops_thread_and_more_in_a_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batched flush (64 node records and their events) is written on the event loop's thread, where it
    takes about a millisecond; more records, or thousands of events, go to a worker thread."""
    threads: list[int] = []
    record_nodes = Writes.record_nodes

    def recording_thread(self: Writes, *args: Any) -> Any:
        threads.append(threading.get_ident())
        return record_nodes(self, *args)

    monkeypatch.setattr(Writes, "record_nodes", recording_thread)
    loop_thread = threading.get_ident()
    async with SqlStore(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        await store.create_run(run("r"))
        texts = [("e", "{}", 1.0)] * 2_000
        for count, n_events, inline in [(64, 128, True), (65, 0, False), (1, 2_000, False)]:
            nodes = [node("r", f"n{count}-{i}") for i in range(count)]
            await store.record_nodes(nodes, EncodedEvents("r", texts[:n_events]))
            assert (threads.pop() == loop_thread) is inline, (count, n_events)
        assert len(await store.get_nodes("r")) == 64 + 65 + 1


async def test_sqlite_files_are_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "store.db"  # missing directories are created
    async with SqlStore(f"sqlite:///{path}") as store:
        await store.put_workflow("h", {"x": 1})
        header = await anyio.Path(path).read_bytes()
        assert hashlib.sha256(header).hexdigest()  # the file exists and is readable
        assert header[18:20] == b"\x02\x02"  # file format versions 2: WAL


def test_sqlites_written_out_statements_are_what_sqlalchemy_compiles() -> None:
    compiled = compiled_writes("sqlite")
    written = Writes.sqlite()
    for name, keys in KEYS.items():
        mine, theirs = written._s[name], compiled._s[name]
        row = tuple(f"value-{i}" for i in range(len(keys)))
        assert (mine.sql, mine._arranged(row)) == (theirs.sql, theirs._arranged(row)), name
    updatable = ("status", "outputs", "meta", "error", "started_at", "ended_at")
    for size in range(1, len(updatable) + 1):
        for keys in itertools.permutations(updatable, size) if size <= 2 else [updatable[:size]]:
            mine, theirs = sqlite_update_run(keys), update_run_statement("sqlite", keys)
            row = tuple(f"value-{i}" for i in range(len(keys) + 1))
            assert (mine.sql, mine._arranged(row)) == (theirs.sql, theirs._arranged(row)), keys


def test_recording_into_an_up_to_date_sqlite_file_does_not_import_sqlalchemy(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    script = f"""
import asyncio, sys
from flowloom.ir import NewEvent, NodeRow, RunRow, Status
from flowloom.stores import SqlStore

async def record(run_id):
    async with SqlStore({url!r}) as store:
        await store.put_workflow("wf", {{"nodes": []}})
        await store.create_run(RunRow(id=run_id, workflow_hash="wf", status=Status.PROCESSING, created_at=1.0,
                                      owner="me", lease_expires_at=2.0))
        await store.record_nodes([NodeRow(run_id, "a", Status.SUCCEEDED)], [NewEvent(run_id, "E", {{}}, 1.0)])
        many = [NodeRow(run_id, f"n{{i}}", Status.SUCCEEDED) for i in range(100)]  # a batch for a thread
        await store.record_nodes(many, [NewEvent(run_id, "E", {{}}, 1.0)] * 100)
        await store.update_run(run_id, status=Status.SUCCEEDED, ended_at=3.0)
        assert await store.renew_lease(run_id, "me", 10.0, 2.0)
        assert await store.release_lease(run_id, "me")

asyncio.run(record(sys.argv[1]))
print("sqlalchemy" in sys.modules)
"""
    first = subprocess.run([sys.executable, "-c", script, "r1"], capture_output=True, text=True, check=True)
    assert first.stdout.strip() == "True"  # a new file is migrated, by Alembic on SQLAlchemy
    again = subprocess.run([sys.executable, "-c", script, "r2"], capture_output=True, text=True, check=True)
    assert again.stdout.strip() == "False"


# waits ---------------------------------------------------------------------------------------------------


def wait_row(run_id: str, key: str, **fields: Any) -> WaitRow:
    return WaitRow(run_id=run_id, key=key, node_id=fields.pop("node_id", key), created_at=1000.0, **fields)


async def test_waits_round_trip_and_are_answered_once(store: RunStore) -> None:
    await store.create_run(run("r", status=Status.WAITING))
    asked = wait_row("r", "approve", scope=(2, 0), prompt="ok?", choices=["yes", "no"], details={"n": 1})
    await store.put_waits([asked, wait_row("r", "sleep", reason="time", until=1500.0)])
    assert await store.get_waits("r") == [asked, wait_row("r", "sleep", reason="time", until=1500.0)]
    assert await store.due_waits(now=1499.0) == []
    assert [w.key for w in await store.due_waits(now=1500.0)] == ["sleep"]
    with pytest.raises(WaitKeyRequired, match=r"several keys \('approve', 'sleep'\)"):
        await store.answer_wait("r", None, 1, owner="me", ttl_s=30.0, now=1001.0)
    with pytest.raises(WaitError, match="no wait with key 'nope'"):
        await store.answer_wait("r", "nope", 1, owner="me", ttl_s=30.0, now=1001.0)
    answered = await store.answer_wait("r", "approve", {"ok": True}, owner="me", ttl_s=30.0, now=1001.0)
    assert (answered.status, answered.payload, answered.answered_at) == (
        WaitStatus.ANSWERED,
        {"ok": True},
        1001.0,
    )
    row = await store.get_run("r")
    assert row is not None and (row.status, row.owner, row.lease_expires_at) == (
        Status.PROCESSING,
        "me",
        1031.0,
    )
    assert await store.due_waits(now=2000.0) == []  # the run is not waiting any more
    with pytest.raises(WaitError, match="not waiting: it is running"):
        await store.answer_wait("r", "sleep", 1, owner="other", ttl_s=30.0, now=1002.0)
    # the run waits again: an answered wait recorded again stays answered, its key is stale
    await store.update_run("r", status=Status.WAITING)
    await store.put_waits([wait_row("r", "approve")])
    assert (await store.get_waits("r"))[0].payload == {"ok": True}
    with pytest.raises(WaitError, match=r"stale key 'approve'.*open: 'sleep'"):
        await store.answer_wait("r", "approve", 2, owner="me", ttl_s=30.0, now=1003.0)
    assert (await store.answer_wait("r", None, None, owner="me", ttl_s=30.0, now=1003.0)).key == "sleep"
    with pytest.raises(StoreError, match="unknown run"):
        await store.answer_wait("missing", None, 1, owner="me", ttl_s=30.0, now=1003.0)
    with pytest.raises(StoreError, match="unknown run"):
        await store.put_waits([wait_row("missing", "k")])


async def test_a_pruned_run_takes_its_waits_along(store: RunStore) -> None:
    await store.create_run(run("old", status=Status.CANCELED, created_at=10.0))
    await store.put_waits([wait_row("old", "k")])
    await store.create_run(run("waiting", status=Status.WAITING, created_at=10.0))
    await store.put_waits([wait_row("waiting", "k")])
    assert await store.prune_runs(older_than=100.0) == 1  # a waiting run is never pruned
    assert await store.get_waits("old") == []
    assert [w.key for w in await store.get_waits("waiting")] == ["k"]


async def test_concurrent_answers_exactly_one_wins(sql_url: str, anyio_backend: str) -> None:
    races = 20
    async with SqlStore(sql_url) as store_a, SqlStore(sql_url) as store_b:
        for i in range(races):
            await store_a.create_run(run(f"r{i}", status=Status.WAITING))
            await store_a.put_waits([wait_row(f"r{i}", "approve")])
        outcomes: dict[str, list[str]] = {f"r{i}": [] for i in range(races)}

        async def answer(store: SqlStore, owner: str, run_id: str) -> None:
            try:
                await store.answer_wait(run_id, "approve", owner, owner=owner, ttl_s=30.0, now=1001.0)
            except WaitError:
                outcomes[run_id].append("refused")
            else:
                outcomes[run_id].append(owner)

        async with anyio.create_task_group() as group:
            for i in range(races):
                group.start_soon(answer, store_a, "a", f"r{i}")
                group.start_soon(answer, store_b, "b", f"r{i}")

        for run_id, seen in outcomes.items():
            assert len(seen) == 2 and seen.count("refused") == 1, seen
            winner = next(owner for owner in seen if owner != "refused")
            [wait] = await store_b.get_waits(run_id)
            stored = await store_b.get_run(run_id)
            assert wait.payload == winner and stored is not None and stored.owner == winner


async def test_saved_workflows_are_kept_replaced_listed_and_deleted(store: RunStore) -> None:
    first = WorkflowDefinition(
        id="wf-1", name="one", document={"nodes": [1]}, created_at=10.0, updated_at=10.0
    )
    other = WorkflowDefinition(
        id="wf-0", name="zero", document=[], format="flowgram", created_at=20.0, updated_at=20.0
    )
    assert await store.save_definition(first) == first
    await store.save_definition(other)
    assert await store.get_definition("wf-1") == first
    assert await store.get_definition("missing") is None
    assert [d.id for d in await store.list_definitions()] == ["wf-1", "wf-0"]  # oldest first
    replaced = WorkflowDefinition(
        id="wf-1", name="uno", document={"nodes": []}, created_at=30.0, updated_at=30.0
    )
    assert (await store.save_definition(replaced)).created_at == 10.0
    kept = await store.get_definition("wf-1")
    assert kept is not None and (kept.name, kept.document, kept.created_at, kept.updated_at) == (
        "uno",
        {"nodes": []},
        10.0,
        30.0,
    )
    assert await store.delete_definition("wf-1") is True
    assert await store.delete_definition("wf-1") is False
    assert [d.id for d in await store.list_definitions()] == ["wf-0"]


def fire(tick: float, run_id: str, *, workflow_id: str = "wf", key: str = "0") -> TriggerFire:
    return TriggerFire(
        workflow_id=workflow_id, trigger_key=key, tick=tick, run_id=run_id, fired_at=tick + 0.01
    )


async def test_a_trigger_tick_is_claimed_once_and_the_newest_tick_is_known(store: RunStore) -> None:
    assert await store.last_trigger_fires() == {}
    assert await store.claim_trigger_fire(fire(60.0, "r1")) is True
    assert await store.claim_trigger_fire(fire(60.0, "r2")) is False  # the same tick: already claimed
    assert await store.claim_trigger_fire(fire(120.0, "r3")) is True
    assert await store.claim_trigger_fire(fire(60.0, "r4", key="cron-b")) is True  # another trigger
    assert await store.claim_trigger_fire(fire(30.0, "r5", workflow_id="other")) is True
    assert await store.last_trigger_fires() == {
        ("wf", "0"): 120.0,
        ("wf", "cron-b"): 60.0,
        ("other", "0"): 30.0,
    }
    # pruning keeps each trigger's newest tick, whatever its age
    assert await store.prune_trigger_fires(older_than=1000.0) == 1
    assert await store.last_trigger_fires() == {
        ("wf", "0"): 120.0,
        ("wf", "cron-b"): 60.0,
        ("other", "0"): 30.0,
    }
    assert await store.claim_trigger_fire(fire(120.0, "r6")) is False


async def test_two_stores_racing_for_one_tick_claim_it_once(sql_url: str) -> None:
    async with SqlStore(sql_url) as store_a, SqlStore(sql_url) as store_b:
        won: list[bool] = []

        async def claim(store: RunStore, run_id: str, tick: float) -> None:
            won.append(await store.claim_trigger_fire(fire(tick, run_id)))

        async with anyio.create_task_group() as group:
            for tick in range(20):
                group.start_soon(claim, store_a, f"a{tick}", float(tick))
                group.start_soon(claim, store_b, f"b{tick}", float(tick))
        assert sorted(won) == [False] * 20 + [True] * 20
        assert await store_a.last_trigger_fires() == {("wf", "0"): 19.0}
