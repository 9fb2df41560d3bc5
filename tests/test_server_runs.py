"""flowloom's runs API over a real uvicorn server: runs, node types, Server-Sent Events (replay and resume
with Last-Event-ID), the WebSocket stream, retention, slow subscribers and a clean shutdown."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import websockets

import flowloom
from _server import (
    LiveServer,
    echo_workflow,
    live_server,
    slow_http_workflow,
    text,
    wait_for_result,
    wait_until,
)
from flowloom.ir import Event
from flowloom.server import ServerSettings
from flowloom.server._registry import RunRegistry
from flowloom.stores import EventsLost, follow_events
from flowloom.testing import HttpEchoServer

pytestmark = pytest.mark.anyio

FLOWLOOM = Path(sys.executable).parent / "flowloom"
SseEvent = tuple[int, str, dict[str, Any]]  # (id, event, data)


@pytest.fixture
async def server() -> AsyncIterator[LiveServer]:
    async with live_server() as live:
        yield live


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with server.client() as http:
        yield http


@pytest.fixture
async def echo() -> AsyncIterator[HttpEchoServer]:
    async with HttpEchoServer() as server:
        yield server


async def _start(client: httpx.AsyncClient, workflow: dict[str, Any] | str, inputs: dict[str, Any]) -> str:
    response = await client.post("/api/v1/runs", json={"workflow": workflow, "inputs": inputs})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _read_sse(
    client: httpx.AsyncClient, run_id: str, headers: dict[str, str] | None = None, limit: int | None = None
) -> list[SseEvent]:
    """The events of one SSE response, until it ends (or ``limit`` events have come)."""
    events: list[SseEvent] = []
    fields: dict[str, str] = {}
    async with client.stream("GET", f"/api/v1/runs/{run_id}/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
                continue
            if fields:
                events.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
                fields = {}
                if limit is not None and len(events) == limit:
                    break
    return events


def _types(events: list[Event]) -> list[str]:
    return [type(event).__name__ for event in events]


# -- runs -----------------------------------------------------------------------------------------


async def test_start_get_and_list_runs(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/runs", json={"workflow": echo_workflow(), "inputs": {"msg": "a"}})
    assert response.status_code == 201
    run = response.json()
    assert set(run) == {"id", "status", "created_at", "started_at", "ended_at", "error"}
    assert response.headers["location"] == f"/api/v1/runs/{run['id']}"
    second = await _start(client, text(echo_workflow()), {"msg": "b"})  # the workflow as JSON text
    failed = await _start(client, echo_workflow(), {})  # inputs fail validation: a failed run
    for run_id in (run["id"], second, failed):
        await wait_for_result(client, run_id)

    detail = (await client.get(f"/api/v1/runs/{second}")).json()
    assert (detail["status"], detail["error"]) == ("succeeded", None)
    assert detail["started_at"] <= detail["ended_at"]
    assert detail["report"]["outputs"] == {"echo": "you said b"}

    listed = (await client.get("/api/v1/runs")).json()
    assert [r["id"] for r in listed["runs"]] == [failed, second, run["id"]]  # newest first
    assert (listed["total"], listed["limit"], listed["offset"]) == (3, 50, 0)
    failed_only = (await client.get("/api/v1/runs", params={"status": "failed"})).json()["runs"]
    assert [(r["id"], r["error"]) for r in failed_only] == [
        (failed, 'JSON Schema validation failed: Missing required property "msg" at root')
    ]
    page = (await client.get("/api/v1/runs", params={"limit": 1, "offset": 1})).json()
    assert ([r["id"] for r in page["runs"]], page["total"]) == ([second], 3)


async def test_cancel_a_running_run(client: httpx.AsyncClient) -> None:
    async with HttpEchoServer(delay_s=10.0) as slow:
        run_id = await _start(client, slow_http_workflow(f"{slow.base_url}/slow"), {})
        await wait_until(lambda: slow.requests)
        response = await client.post(f"/api/v1/runs/{run_id}/cancel")
        assert response.status_code == 200
        assert (response.json()["status"], response.json()["canceled"]) == ("canceled", True)
        report = (await client.get(f"/api/v1/runs/{run_id}")).json()["report"]
        assert report["reports"]["http_0"]["status"] == "canceled"
    again = await client.post(f"/api/v1/runs/{run_id}/cancel")
    assert (again.status_code, again.json()["canceled"]) == (200, False)


async def test_node_types(client: httpx.AsyncClient) -> None:
    nodes = (await client.get("/api/v1/nodes")).json()["nodes"]
    by_type = {node["type"]: node for node in nodes}
    assert {"start", "end", "condition", "loop", "code", "http", "llm"} <= set(by_type)
    assert all(node["doc"] for node in nodes)
    traits = ("entry", "terminal", "lightweight", "replayed", "strict_join")
    assert {name for name in traits if by_type["start"][name]} == {"entry", "lightweight"}
    assert {name for name in traits if by_type["end"][name]} == {"terminal", "lightweight", "replayed"}
    assert {name for name in traits if by_type["http"][name]} == set()


async def test_retention_keeps_the_newest_finished_runs() -> None:
    settings = ServerSettings(retention_max_runs=2)
    async with live_server(settings) as server, server.client() as client:
        ids = []
        for n in range(4):
            ids.append(await _start(client, echo_workflow(), {"msg": str(n)}))
            await wait_for_result(client, ids[-1])
        listed = (await client.get("/api/v1/runs")).json()
        assert [r["id"] for r in listed["runs"]] == [ids[3], ids[2]]
        assert (await client.get(f"/api/v1/runs/{ids[0]}")).status_code == 404
        assert (await client.get("/api/task/report", params={"taskID": ids[0]})).content == b""


async def test_retention_forgets_old_runs() -> None:
    async with live_server(ServerSettings(retention_max_age_s=0.2)) as server, server.client() as client:
        old = await _start(client, echo_workflow(), {"msg": "old"})
        await wait_for_result(client, old)
        await anyio.sleep(0.3)
        new = await _start(client, echo_workflow(), {"msg": "new"})
        assert [r["id"] for r in (await client.get("/api/v1/runs")).json()["runs"]] == [new]


# -- Server-Sent Events ---------------------------------------------------------------------------


async def test_sse_delivers_every_event_in_order(server: LiveServer, client: httpx.AsyncClient) -> None:
    seen: list[Event] = []
    remove = server.engine.bus.add_listener(seen.append)
    try:
        async with HttpEchoServer(delay_s=0.3) as slow:
            run_id = await _start(client, slow_http_workflow(f"{slow.base_url}/x"), {})
            events = await _read_sse(client, run_id)  # subscribed while the run is going
    finally:
        remove()
    mine = [event for event in seen if event.run_id == run_id]
    assert [e[0] for e in events] == list(range(1, len(mine) + 1))
    assert [e[1] for e in events] == _types(mine)
    assert [e[1] for e in events] == [
        "RunStarted",
        "NodeStarted",
        "NodeSucceeded",
        "NodeStarted",
        "NodeSucceeded",
        "NodeStarted",
        "NodeSucceeded",
        "RunFinished",
    ]
    assert [e[2].get("node_id") for e in events[1:-1]] == [
        "start_0",
        "start_0",
        "http_0",
        "http_0",
        "end_0",
        "end_0",
    ]
    assert all(e[2]["run_id"] == run_id for e in events)
    assert events[-1][2]["status"] == "succeeded"

    replay = await _read_sse(client, run_id)  # a new subscriber after the end: the whole run again
    assert replay == events


async def test_sse_resumes_after_last_event_id(client: httpx.AsyncClient) -> None:
    async with HttpEchoServer(delay_s=0.5) as slow:
        run_id = await _start(client, slow_http_workflow(f"{slow.base_url}/x"), {})
        first = await _read_sse(client, run_id, limit=3)  # then the client goes away
        assert [e[0] for e in first] == [1, 2, 3]
        rest = await _read_sse(client, run_id, headers={"Last-Event-ID": "3"})
    everything = await _read_sse(client, run_id)
    assert first + rest == everything
    assert rest[-1][1] == "RunFinished"
    response = await client.get(f"/api/v1/runs/{run_id}/events", params={"last_event_id": "6"})
    assert [line for line in response.text.splitlines() if line.startswith("id: ")] == ["id: 7", "id: 8"]


async def test_sse_of_an_unknown_run_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/runs/nope/events")
    assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")


# -- WebSocket ------------------------------------------------------------------------------------


async def _messages(url: str, *, until_close: bool = True, count: int | None = None) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    async with websockets.connect(url) as socket:
        try:
            async for raw in socket:
                received.append(json.loads(raw))
                if count is not None and len(received) == count:
                    break
        except websockets.ConnectionClosedOK:
            pass
        if until_close:
            assert socket.close_code == 1000
    return received


async def test_websocket_filtered_by_run(server: LiveServer, client: httpx.AsyncClient) -> None:
    async with HttpEchoServer(delay_s=0.3) as slow:
        run_id = await _start(client, slow_http_workflow(f"{slow.base_url}/a"), {})
        other = await _start(client, slow_http_workflow(f"{slow.base_url}/b"), {})
        messages = await _messages(f"{server.ws_url}/api/v1/events?run_id={run_id}")
        await wait_for_result(client, other)
    assert {m["run_id"] for m in messages} == {run_id}
    assert [m["seq"] for m in messages] == list(range(1, 9))
    assert messages[0]["type"] == "RunStarted" and messages[-1]["type"] == "RunFinished"
    assert set(messages[0]) == {"seq", "run_id", "type", "data"}
    assert messages[-1]["data"]["status"] == "succeeded"
    resumed = await _messages(f"{server.ws_url}/api/v1/events?run_id={run_id}&last_event_id=5")
    assert resumed == messages[5:]


async def test_websocket_of_every_run(server: LiveServer, client: httpx.AsyncClient) -> None:
    async with websockets.connect(f"{server.ws_url}/api/v1/events") as socket:
        await anyio.sleep(0.05)  # subscribed before the runs start
        first = await _start(client, echo_workflow(), {"msg": "1"})
        second = await _start(client, echo_workflow(), {"msg": "2"})
        received: list[dict[str, Any]] = []
        with anyio.fail_after(5):
            while sum(m["type"] == "RunFinished" for m in received) < 2:
                received.append(json.loads(await socket.recv()))
    assert {m["run_id"] for m in received} == {first, second}
    for run_id in (first, second):
        assert [m["seq"] for m in received if m["run_id"] == run_id] == list(range(1, 7))


async def test_websocket_for_an_unknown_run_closes(server: LiveServer) -> None:
    async with websockets.connect(f"{server.ws_url}/api/v1/events?run_id=nope") as socket:
        with pytest.raises(websockets.ConnectionClosed):
            await socket.recv()
        assert (socket.close_code, socket.close_reason) == (4404, "Run 'nope' not found")


# -- slow subscribers and shutdown ----------------------------------------------------------------


async def test_a_slow_subscriber_is_dropped_and_never_blocks_a_run(caplog: pytest.LogCaptureFixture) -> None:
    engine = flowloom.Engine()
    async with engine:
        registry = RunRegistry(engine, max_runs=10, max_age_s=60, event_buffer=3)
        registry.attach()
        with caplog.at_level(logging.WARNING, "flowloom.server"), registry.watch() as watch:
            runs = [registry.start(echo_workflow(), {"msg": str(n)}) for n in range(5)]  # nobody reads
            for run in runs:
                await run.join(timeout=5)
                assert run.status == "succeeded"
            assert watch.dropped
            received = [run_id async for run_id in watch.runs]
        assert len(received) == 3 and set(received) < {run.id for run in runs}
        assert "dropped a slow every-run event subscriber" in caplog.text
        # without a store, events are kept in memory, bounded too: the last 3 of the run's 6
        assert [row.seq for row in await registry.events.get_events(runs[0].id)] == [4, 5, 6]
        with pytest.raises(EventsLost, match="events 1 to 3 are no longer kept"):
            _ = [row async for row in follow_events(registry.events, runs[0].id)]
        registry.detach()


async def test_shutdown_ends_streams_and_cancels_running_runs() -> None:
    async with HttpEchoServer(delay_s=30.0) as slow:
        async with live_server() as server, server.client() as client:
            run_id = await _start(client, slow_http_workflow(f"{slow.base_url}/slow"), {})
            await wait_until(lambda: slow.requests)
            registry: RunRegistry = server.app.state.registry
            async with client.stream("GET", f"/api/v1/runs/{run_id}/events") as stream:
                assert stream.status_code == 200
                server.server.should_exit = True
                with anyio.fail_after(5):
                    body = b"".join([chunk async for chunk in stream.aiter_bytes()])
            assert b"event: NodeStarted" in body
        entry = registry.get(run_id)  # the server is down: its runs were canceled, not left running
        assert entry is not None
        run = entry.run
        assert run.done and run.status == "canceled"
        assert run.report().to_json()["reports"]["http_0"]["status"] == "canceled"


async def test_flowloom_serve_shuts_down_cleanly() -> None:
    """``flowloom serve`` answers, and Ctrl-C stops it with exit code 0, canceling what is running."""
    async with HttpEchoServer(delay_s=30.0) as slow:
        await anyio.to_thread.run_sync(_serve_and_interrupt, slow.base_url)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve_and_interrupt(echo_url: str) -> None:
    port = _free_port()
    command = [str(FLOWLOOM), "serve", "--port", str(port)]
    env = {**os.environ, "FLOWLOOM_API_TOKEN": "t0ken"}
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        headers = {"Authorization": "Bearer t0ken"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=5) as client:
            for _ in range(200):
                try:
                    if client.get("/info").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
            assert client.get("/api/v1/runs", headers={"Authorization": ""}).status_code == 401
            response = client.post("/api/v1/runs", json={"workflow": slow_http_workflow(f"{echo_url}/s")})
            assert response.status_code == 201
            for _ in range(200):  # until the HTTP node waits on the echo server
                report = client.get(f"/api/v1/runs/{response.json()['id']}").json()["report"]
                if "http_0" in report["reports"]:
                    break
                time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert "canceled 1 running run(s) at shutdown" in stderr
