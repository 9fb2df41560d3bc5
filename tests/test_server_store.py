"""The server on a store: its runs API reads the history (it survives a restart), runs other processes left
unfinished are resumed at start-up, and a bad store stops the server at start-up."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import anyio
import httpx
import pytest

from _durable import CountExecutor, count_chain
from _server import live_server
from flowloom import Engine, Status
from flowloom.ir import RunRow
from flowloom.nodes import NodeRegistry
from flowloom.server import ServerSettings, create_app
from flowloom.stores import SqlStore

pytestmark = pytest.mark.anyio


def engine_on(url: str, counter: CountExecutor | None = None) -> Engine:
    registry = NodeRegistry.default()
    registry.register(counter or CountExecutor())
    return Engine(registry=registry, store=url)


async def succeeded(client: httpx.AsyncClient, run_id: str) -> None:
    for _ in range(500):
        if (await client.get(f"/api/v1/runs/{run_id}")).json()["status"] == "succeeded":
            return
        await anyio.sleep(0.02)
    raise AssertionError(f"run {run_id} did not succeed in time")


async def test_history_survives_a_restart_and_orphans_are_resumed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    async with live_server(ServerSettings(), engine_on(url)) as server, server.client() as client:
        started = await client.post("/api/v1/runs", json={"workflow": count_chain(3), "inputs": {"x": 1}})
        assert started.status_code == 201, started.text
        first_id = started.json()["id"]
        await succeeded(client, first_id)

    # a run a dead process left processing in the same store
    dead = await anyio.run_process([sys.executable, "-c", "import os; print(os.getpid())"])
    async with SqlStore(url) as store:
        first = await store.get_run(first_id)
        assert first is not None
        await store.create_run(
            RunRow(
                id="orphan",
                workflow_hash=first.workflow_hash,
                status=Status.PROCESSING,
                created_at=first.created_at + 1,
                inputs={"x": 10},
                owner=f"{socket.gethostname()}/{dead.stdout.decode().strip()}/gone",
                lease_expires_at=1e12,
            )
        )

    counter = CountExecutor()
    async with live_server(ServerSettings(), engine_on(url, counter)) as server, server.client() as client:
        await succeeded(client, "orphan")
        orphan = (await client.get("/api/v1/runs/orphan")).json()
        assert orphan["report"]["outputs"] == {"y": 13}
        assert counter.ran("c1") == 1

        listed = (await client.get("/api/v1/runs")).json()
        assert [run["id"] for run in listed["runs"]] == ["orphan", first_id]  # the first server's run too
        assert listed["total"] == 2
        before_restart = (await client.get(f"/api/v1/runs/{first_id}")).json()
        assert before_restart["status"] == "succeeded"
        assert before_restart["report"]["outputs"] == {"y": 4}
        assert (await client.get("/api/v1/runs/nope")).status_code == 404


async def test_a_bad_store_stops_the_server_at_start_up(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"not a database at all")
    app = create_app(Engine(store=f"sqlite:///{corrupt}"), ServerSettings())
    with pytest.raises(Exception, match="not a SQLite database"):
        async with app.router.lifespan_context(app):
            pass
    assert corrupt.read_bytes() == b"not a database at all"  # left untouched
