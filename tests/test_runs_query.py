"""Run listings for the runs page (``RunQuery``): filters, keyset pages and status counts agree on
MemoryStore, SQLite and PostgreSQL; a 100,000-run SQLite history pages through its index."""

from __future__ import annotations

from pathlib import Path

import anyio.to_thread
import pytest
import sqlalchemy as sa

from _stores import every_store_url, open_store, postgres_server  # noqa: F401
from flowloom.ir import RunCursor, RunQuery, RunRow, RunStore, Status
from flowloom.stores import SqlStore

pytestmark = pytest.mark.anyio


STATUSES = [Status.SUCCEEDED, Status.FAILED, Status.PROCESSING, Status.CANCELED]


async def _seed(store: RunStore) -> None:
    for i in range(12):
        await store.create_run(
            RunRow(
                id=f"run-{i:02d}",
                workflow_hash="wf-a" if i % 3 else "wf-b",
                status=STATUSES[i % 4],
                created_at=1000.0 + (i // 2),  # pairs share a time: the id breaks the tie
                inputs={"customer": "ada_100%" if i == 5 else f"c{i}"},
            )
        )


async def test_filters_pages_and_counts(store: RunStore) -> None:
    await _seed(store)
    everything = await store.query_runs(RunQuery(), limit=100)
    assert [r.id for r in everything] == [f"run-{i:02d}" for i in reversed(range(12))]

    pages, cursor = [], None
    while True:
        page = await store.query_runs(RunQuery(before=cursor), limit=5)
        pages.append([r.id for r in page])
        if len(page) < 5:
            break
        cursor = RunCursor(created_at=page[-1].created_at, id=page[-1].id)
    assert [run_id for page in pages for run_id in page] == [r.id for r in everything]
    assert [len(p) for p in pages] == [5, 5, 2]

    failed_or_canceled = RunQuery(statuses=(Status.FAILED, Status.CANCELED))
    assert [r.id for r in await store.query_runs(failed_or_canceled)] == [
        "run-11", "run-09", "run-07", "run-05", "run-03", "run-01"
    ]  # fmt: skip
    of_b = RunQuery(workflow_hash="wf-b", created_from=1001.0, created_to=1005.0)
    assert [r.id for r in await store.query_runs(of_b)] == ["run-09", "run-06", "run-03"]
    # text: in the id, or in the inputs' JSON; LIKE's wildcards are taken literally
    assert [r.id for r in await store.query_runs(RunQuery(text="_100%"))] == ["run-05"]
    assert [r.id for r in await store.query_runs(RunQuery(text="run-1"))] == ["run-11", "run-10"]
    assert await store.query_runs(RunQuery(text="a%")) == []

    counts = await store.count_runs_by_status(RunQuery(statuses=(Status.FAILED,), workflow_hash="wf-a"))
    assert counts == {Status.SUCCEEDED: 2, Status.FAILED: 2, Status.PROCESSING: 2, Status.CANCELED: 2}
    seen = await store.list_workflows()
    assert [(w.hash, w.runs, w.last_run_at) for w in seen] == [("wf-a", 8, 1005.0), ("wf-b", 4, 1004.0)]


def test_cursor_text_round_trips_and_bad_cursors_say_what_is_expected() -> None:
    cursor = RunCursor(created_at=1733600000.123456, id="a_b")
    assert RunCursor.from_text(cursor.to_text()) == cursor
    for bad in ("", "abc", "12.5", "12.5_", "nan_x"):
        with pytest.raises(ValueError, match="a cursor is '<created_at>_<run id>'"):
            RunCursor.from_text(bad)


def _bulk_seed(path: Path, count: int) -> None:
    """``count`` runs in one transaction (executemany): seeding 100,000 takes about a second."""
    engine = sa.create_engine(f"sqlite:///{path}")
    rows = [
        {
            "id": f"r{i:06d}",
            "workflow_hash": f"wf{i % 7}",
            "status": STATUSES[i % 4].value,
            "inputs": f'{{"n": {i}}}',
            "outputs": "{}",
            "created_at": 1_000_000.0 + i,
            "meta": "{}",
        }
        for i in range(count)
    ]
    with engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO runs (id, workflow_hash, status, inputs, outputs, created_at, metadata)"
                " VALUES (:id, :workflow_hash, :status, :inputs, :outputs, :created_at, :meta)"
            ),
            rows,
        )
    engine.dispose()


async def test_a_deep_page_of_100000_runs_is_an_index_range(tmp_path: Path) -> None:
    path = tmp_path / "big.db"
    url = f"sqlite:///{path}"
    async with SqlStore(url) as store:
        await store.open()
    await anyio.to_thread.run_sync(_bulk_seed, path, 100_000)
    async with SqlStore(url) as store:
        cursor = RunCursor(created_at=1_000_000.0 + 50_000, id="r050000")
        page = await store.query_runs(RunQuery(before=cursor, statuses=(Status.FAILED,)), limit=50)
        assert [r.id for r in page[:2]] == ["r049997", "r049993"]
        assert len(page) == 50
        counts = await store.count_runs_by_status(RunQuery(workflow_hash="wf3"))
        assert sum(counts.values()) == len(range(3, 100_000, 7))
    # the deep page is a range of the (created_at, id) index, not a scan and a sort
    engine = sa.create_engine(url)
    with engine.connect() as c:
        plan = " ".join(
            str(row[-1])
            for row in c.execute(
                sa.text(
                    "EXPLAIN QUERY PLAN SELECT id FROM runs WHERE status IN ('failed') AND"
                    " (created_at < 1050000.0 OR (created_at = 1050000.0 AND id < 'r050000'))"
                    " ORDER BY created_at DESC, id DESC LIMIT 50"
                )
            )
        )
    engine.dispose()
    assert plan.startswith("SEARCH runs USING") and "TEMP B-TREE" not in plan, plan
