"""A run's events by type, by node and by sequence range (``RunStore.query_events``) in every store: log
lines of one node come from its index (rows of their own in SQL), reads that leave log lines out never see
them, tails and pages by cursor, and a database written before schema 0008 is laid out so on upgrade."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import sqlalchemy as sa

from _postgres import PG_TIMEOUT, create_database, drop_database, postgres_server  # noqa: F401
from flowloom.ir import EncodedEvents, EventQuery, NewEvent, RunRow, RunStore, Status
from flowloom.stores import MemoryStore, SqlStore
from flowloom.stores._database import alembic_config
from flowloom.stores._ledger import LOG_BLOCK

pytestmark = pytest.mark.anyio

LOGS = frozenset({"NodeLog"})


def _url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    if kind == "memory":
        yield None
    elif kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'events.db'}"
    else:
        url = create_database(request.getfixturevalue("postgres_url"))
        try:
            yield url
        finally:
            drop_database(url)


SQL_KINDS = ["sqlite", pytest.param("postgresql", marks=PG_TIMEOUT)]


@pytest.fixture(params=["memory", *SQL_KINDS])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    yield from _url(request.param, request, tmp_path)


@pytest.fixture(params=SQL_KINDS)
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    yield from _url(request.param, request, tmp_path)


async def opened(url: str | None) -> RunStore:
    store: RunStore = MemoryStore() if url is None else SqlStore(url)
    await store.open()
    await store.create_run(RunRow(id="r", workflow_hash="wf", status=Status.PROCESSING, created_at=1.0))
    return store


@pytest.fixture
async def store(store_url: str | None, anyio_backend: str) -> AsyncIterator[RunStore]:
    store = await opened(store_url)
    yield store
    await store.close()


def log(node_id: str, line: str) -> tuple[str, str, float]:
    data = {"run_id": "r", "at": 2.0, "node_id": node_id, "node_type": "t", "scope": [], "stream": "stdout"}
    return ("NodeLog", json.dumps({**data, "line": line}, separators=(",", ":")), 2.0)


def other(kind: str, node_id: str | None = None) -> tuple[str, str, float]:
    return (kind, json.dumps({"run_id": "r", "at": 2.0, **({"node_id": node_id} if node_id else {})}), 2.0)


async def fill(store: RunStore) -> dict[str, list[int]]:
    """RunStarted, then a's start, 600 lines of a interleaved with 3 of b, a's end, RunFinished; in three
    writes. The seqs of each node's lines."""
    first = [other("RunStarted"), other("NodeStarted", "a"), other("NodeStarted", "b")]
    lines = [log("a", f"a{i}") for i in range(300)] + [log("b", f"b{i}") for i in range(3)]
    lines += [log("a", f"a{i}") for i in range(300, 600)]
    last = [other("NodeSucceeded", "a"), log("b", "b3"), other("RunFinished")]
    for batch in (first, lines, last):
        await store.append_events(EncodedEvents("r", batch))
    return {"a": list(range(4, 304)) + list(range(307, 607)), "b": [304, 305, 306, 608]}


async def test_log_lines_by_node_tail_pages_and_exclusion(store: RunStore) -> None:
    seqs = await fill(store)
    everything = await store.get_events("r")
    assert [e.seq for e in everything] == list(range(1, 610))

    tail = await store.query_events("r", EventQuery(types=LOGS, node_id="a", newest=True), 200)
    assert [e.data["line"] for e in tail] == [f"a{i}" for i in range(400, 600)]
    earlier = await store.query_events(
        "r", EventQuery(types=LOGS, node_id="a", newest=True, before=tail[0].seq), 200
    )
    assert [e.seq for e in earlier] == seqs["a"][200:400]
    first = await store.query_events("r", EventQuery(types=LOGS, node_id="a", before=earlier[0].seq), 1000)
    assert [e.seq for e in first] == seqs["a"][:200]
    b_lines = await store.query_events("r", EventQuery(types=LOGS, node_id="b"))
    assert [(e.seq, e.data["line"]) for e in b_lines] == list(
        zip(seqs["b"], ["b0", "b1", "b2", "b3"], strict=True)
    )
    assert await store.query_events("r", EventQuery(types=LOGS, node_id="b", after=306)) == [b_lines[-1]]

    no_logs = await store.query_events("r", EventQuery(exclude=LOGS))
    assert [e.type for e in no_logs] == [
        "RunStarted",
        "NodeStarted",
        "NodeStarted",
        "NodeSucceeded",
        "RunFinished",
    ]
    assert [e.seq for e in no_logs] == [1, 2, 3, 607, 609]
    page = await store.query_events("r", EventQuery(exclude=LOGS, after=3), 1)
    assert [e.seq for e in page] == [607]
    finished = await store.query_events("r", EventQuery(types=frozenset({"RunFinished", "NodeStarted"})))
    assert [e.seq for e in finished] == [2, 3, 609]
    about_b = await store.query_events("r", EventQuery(node_id="b"))
    assert [e.seq for e in about_b] == [3, *seqs["b"]]
    last_two = await store.query_events("r", EventQuery(exclude=LOGS, newest=True), 2)
    assert [e.type for e in last_two] == ["NodeSucceeded", "RunFinished"]


async def test_sql_rows_hold_one_nodes_lines_at_most_a_block(sql_url: str, anyio_backend: str) -> None:
    store = await opened(sql_url)
    await fill(store)
    await store.close()

    def rows() -> list[tuple[Any, ...]]:
        engine = sa.create_engine(sql_url)
        try:
            with engine.connect() as c:
                query = "SELECT seq, type, n_events, node_id FROM events WHERE run_id = 'r' ORDER BY seq"
                return [tuple(row) for row in c.execute(sa.text(query))]
        finally:
            engine.dispose()

    assert await anyio.to_thread.run_sync(rows) == [
        (3, "*", 3, None),
        (3 + LOG_BLOCK, "NodeLog", LOG_BLOCK, "a"),
        (303, "NodeLog", 300 - LOG_BLOCK, "a"),
        (306, "NodeLog", 3, "b"),
        (306 + LOG_BLOCK, "NodeLog", LOG_BLOCK, "a"),
        (606, "NodeLog", 300 - LOG_BLOCK, "a"),
        (607, "NodeSucceeded", 1, None),
        (608, "NodeLog", 1, "b"),
        (609, "RunFinished", 1, None),
    ]


async def test_new_events_of_every_store_are_numbered_across_log_rows(store: RunStore) -> None:
    await store.append_events([NewEvent("r", "NodeLog", {"node_id": "x", "line": "1"}, 2.0)] * 2)
    assert await store.append_events([NewEvent("r", "E", {}, 2.0)]) == [3]
    lines = await store.query_events("r", EventQuery(types=LOGS, node_id="x"))
    assert [e.data["line"] for e in lines] == ["1", "1"]


def _at_0005_with_log_lines(url: str) -> None:
    """A database at schema 0005 whose run logged lines as rows did then: in a block with other events,
    and as a row of one line."""
    from alembic import command

    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0005_runs_page")
            connection.execute(
                sa.text(
                    "INSERT INTO runs (id, workflow_hash, status, inputs, outputs, created_at, metadata)"
                    " VALUES ('old', 'wf', 'succeeded', '{}', '{}', 1.0, '{}')"
                )
            )
            block = [
                ["NodeStarted", {"node_id": "a"}, 1.0],
                ["NodeLog", {"node_id": "a", "line": "a0"}, 1.0],
                ["NodeLog", {"node_id": "a", "line": "a1"}, 1.0],
                ["NodeLog", {"node_id": "b", "line": "b0"}, 1.0],
                ["NodeSucceeded", {"node_id": "a"}, 1.0],
            ]
            rows = [
                {"seq": 5, "type": "*", "data": json.dumps(block), "n": 5},
                {"seq": 6, "type": "NodeLog", "data": json.dumps({"node_id": "a", "line": "a2"}), "n": 1},
                {"seq": 7, "type": "RunFinished", "data": "{}", "n": 1},
            ]
            connection.execute(
                sa.text("INSERT INTO events VALUES ('old', :seq, :type, :data, 1.0, :n)"), rows
            )
    finally:
        engine.dispose()


async def test_upgrading_lays_old_log_lines_out_by_node(sql_url: str, anyio_backend: str) -> None:
    await anyio.to_thread.run_sync(_at_0005_with_log_lines, sql_url)
    async with SqlStore(sql_url) as store:
        everything = await store.get_events("old")
        assert [(e.seq, e.type) for e in everything] == [
            (1, "NodeStarted"),
            (2, "NodeLog"),
            (3, "NodeLog"),
            (4, "NodeLog"),
            (5, "NodeSucceeded"),
            (6, "NodeLog"),
            (7, "RunFinished"),
        ]
        a_lines = await store.query_events("old", EventQuery(types=LOGS, node_id="a", newest=True), 10)
        assert [(e.seq, e.data["line"]) for e in a_lines] == [(2, "a0"), (3, "a1"), (6, "a2")]
        no_logs = await store.query_events("old", EventQuery(exclude=LOGS))
        assert [e.seq for e in no_logs] == [1, 5, 7]
        assert await store.append_events([NewEvent("old", "E", {}, 2.0)]) == [8]
