"""The server's streams and statuses come from the store: Server-Sent Events and the WebSocket of a run
executed by a ``flowloom run`` process, or finished before the server started, replay every recorded event
in order and then follow live; ``GET /api/v1/runs/{id}`` shows the store's status after a CLI resume. On
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import websockets

from _server import LiveServer, live_server
from _stores import postgres_server, sql_store_url  # noqa: F401
from flowloom import Engine, Status
from flowloom.ir import EventRow
from flowloom.server import ServerSettings
from flowloom.stores import SqlStore
from test_cli import FLOWLOOM, write
from test_cli_runs import slow_chain

pytestmark = pytest.mark.anyio

NODES = 6


@pytest.fixture
async def server(store_url: str) -> AsyncIterator[LiveServer]:
    async with live_server(ServerSettings(), Engine(store=store_url)) as live:
        yield live


def cli(store_url: str, *args: str | Path) -> list[str]:
    return [str(FLOWLOOM), *map(str, args), "--store", store_url]


async def recorded(store_url: str, run_id: str) -> list[EventRow]:
    async with SqlStore(store_url) as store:
        return await store.get_events(run_id)


async def running_run(store_url: str) -> str:
    """The id of the run a CLI process is executing, once its first node has succeeded."""
    with anyio.fail_after(30):
        async with SqlStore(store_url) as store:
            while True:
                for row in await store.list_runs(Status.PROCESSING):
                    nodes = await store.get_nodes(row.id)
                    if any(n.node_id == "start_0" and n.status is Status.SUCCEEDED for n in nodes):
                        return row.id
                await anyio.sleep(0.05)


SseEvent = tuple[int, str, dict[str, Any]]


async def read_sse(
    client: httpx.AsyncClient, run_id: str, headers: dict[str, str] | None = None
) -> list[SseEvent]:
    events: list[SseEvent] = []
    fields: dict[str, str] = {}
    async with client.stream("GET", f"/api/v1/runs/{run_id}/events", headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        async for line in response.aiter_lines():
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
            elif fields:
                events.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
                fields = {}
    return events


async def read_socket(server: LiveServer, query: str) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    async with websockets.connect(f"{server.ws_url}/api/v1/events?{query}") as socket:
        received.extend([json.loads(raw) async for raw in socket])
        assert (socket.close_code, socket.close_reason) == (1000, "run finished")
    return received


def as_sse(rows: list[EventRow]) -> list[SseEvent]:
    return [(row.seq, row.type, row.data) for row in rows]


def as_messages(rows: list[EventRow]) -> list[dict[str, Any]]:
    return [{"seq": r.seq, "run_id": r.run_id, "type": r.type, "data": r.data} for r in rows]


def assert_whole_run(rows: list[EventRow]) -> None:
    assert [row.seq for row in rows] == list(range(1, len(rows) + 1))
    assert rows[0].type == "RunStarted" and rows[-1].type == "RunFinished"
    assert rows[-1].data["status"] == "succeeded"
    succeeded = [row.data["node_id"] for row in rows if row.type == "NodeSucceeded"]
    assert succeeded == ["start_0", *[f"spin_{i}" for i in range(NODES)], "end_0"]


async def test_a_run_of_another_process_streams_from_its_start_then_live(
    server: LiveServer, store_url: str, tmp_path: Path
) -> None:
    path = write(tmp_path, slow_chain(NODES))
    command = cli(store_url, "run", path, "--inputs", '{"x": 0}', "--json")
    async with await anyio.open_process(command) as process, server.client() as client:
        run_id = await running_run(store_url)
        sse: list[SseEvent] = []
        messages: list[dict[str, Any]] = []

        async def sse_reader() -> None:
            sse.extend(await read_sse(client, run_id))

        running_at_first_message: list[bool] = []

        async def socket_reader() -> None:
            async with websockets.connect(f"{server.ws_url}/api/v1/events?run_id={run_id}") as socket:
                async for raw in socket:
                    if not messages:
                        running_at_first_message.append(process.returncode is None)
                    messages.append(json.loads(raw))
                assert socket.close_code == 1000

        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                group.start_soon(sse_reader)
                group.start_soon(socket_reader)
            assert await process.wait() == 0
    assert running_at_first_message == [True]  # it replayed, then followed the run live
    rows = await recorded(store_url, run_id)
    assert_whole_run(rows)
    assert sse == as_sse(rows)  # every event once, in order, with the store's numbers
    assert messages == as_messages(rows)


async def test_a_run_finished_before_the_server_started_replays(store_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, slow_chain(NODES))
    ran = await anyio.run_process(cli(store_url, "run", path, "--inputs", '{"x": 0}', "--json"), check=False)
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["report"]["id"]
    rows = await recorded(store_url, run_id)
    assert_whole_run(rows)
    async with live_server(ServerSettings(), Engine(store=store_url)) as server, server.client() as client:
        assert await read_sse(client, run_id) == as_sse(rows)
        assert await read_sse(client, run_id, {"Last-Event-ID": "5"}) == as_sse(rows[5:])
        assert await read_socket(server, f"run_id={run_id}") == as_messages(rows)
        assert await read_socket(server, f"run_id={run_id}&last_event_id=7") == as_messages(rows[7:])
        at_end = await read_sse(client, run_id, {"Last-Event-ID": str(len(rows))})
        assert at_end == []  # it ended: the stream ends at once
        missing = await client.get("/api/v1/runs/nope/events")
        assert (missing.status_code, missing.json()["message"]) == (404, "Run 'nope' not found")
        detail = (await client.get(f"/api/v1/runs/{run_id}")).json()
        assert (detail["status"], detail["report"]["outputs"]) == ("succeeded", {"y": NODES})


async def test_status_after_a_cli_resume_is_the_stores(
    server: LiveServer, store_url: str, tmp_path: Path
) -> None:
    async with server.client() as client:
        started = await client.post("/api/v1/runs", json={"workflow": slow_chain(NODES), "inputs": {"x": 0}})
        assert started.status_code == 201, started.text
        run_id = started.json()["id"]
        await running_run(store_url)
        canceled = await client.post(f"/api/v1/runs/{run_id}/cancel")
        assert (canceled.json()["status"], canceled.json()["canceled"]) == ("canceled", True)

        resumed = await anyio.run_process(cli(store_url, "runs", "resume", run_id, "--json"), check=False)
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout)["status"] == "succeeded"

        detail = (await client.get(f"/api/v1/runs/{run_id}")).json()
        assert (detail["status"], detail["error"]) == ("succeeded", None)
        assert detail["report"]["outputs"] == {"y": NODES}
        assert detail["report"]["workflowStatus"]["status"] == "succeeded"
        listed = (await client.get("/api/v1/runs")).json()["runs"]
        assert [(r["id"], r["status"]) for r in listed] == [(run_id, "succeeded")]
        report = (await client.get("/api/task/report", params={"taskID": run_id})).json()
        assert report["workflowStatus"]["status"] == "succeeded"
        result = (await client.get("/api/task/result", params={"taskID": run_id})).json()
        assert result == {"y": NODES}

        # the stream of the whole run: the canceled attempt, then the resumed one, each event once
        events = await read_sse(client, run_id)
        rows = await recorded(store_url, run_id)
        assert events == as_sse(rows)
        assert [e[2]["status"] for e in events if e[1] == "RunFinished"] == ["canceled", "succeeded"]
        assert [e[1] for e in events].count("RunStarted") == 2


async def test_batched_durability_streams_every_event_once_in_order(store_url: str) -> None:
    """In ``batched`` mode the ledger gets events late, in blocks: a stream still sends each once, in
    order; the every-run WebSocket sends the runs this server executes from the store too."""
    engine = Engine(store=store_url, durability="batched")
    async with live_server(ServerSettings(), engine) as server, server.client() as client:
        async with websockets.connect(f"{server.ws_url}/api/v1/events") as every:
            await anyio.sleep(0.05)  # subscribed before the run starts
            started = await client.post(
                "/api/v1/runs", json={"workflow": slow_chain(NODES), "inputs": {"x": 0}}
            )
            run_id = started.json()["id"]
            events = await read_sse(client, run_id)  # from while it runs to its end
            received: list[dict[str, Any]] = []
            with anyio.fail_after(10):
                while not received or received[-1]["type"] != "RunFinished":
                    received.append(json.loads(await every.recv()))
    rows = await recorded(store_url, run_id)
    assert_whole_run(rows)
    assert events == as_sse(rows)
    assert received == as_messages(rows)
