"""The dashboard with a big log (issue 20) over plain HTTP (uvicorn on 127.0.0.1, SQLite store) and in a
real headless Chromium: a run whose node logged 200,000 lines. The run page and its event stream
(``?exclude=NodeLog``) carry none of them; the node panel's reads get the tail (the last lines, through the
store's index) and page back by cursor; a node's own stream (``?types=NodeLog&node=…``) carries only its
lines; the download has every line."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import websockets
from playwright.async_api import Page, expect

import flowloom
from _browser import browser_page, browser_path  # noqa: F401
from _server import LiveServer, live_server
from _workflows import chain, end, node, start
from flowloom.nodes import NodeRegistry
from flowloom.server import ServerSettings
from flowloom.stores import SqlStore

pytestmark = pytest.mark.anyio

LINES = 200_000


class Loud:
    """``loud``: logs ``data.lines`` lines, ``line 0`` to ``line <lines - 1>``."""

    type: ClassVar[str] = "loud"

    async def execute(self, ctx: flowloom.NodeContext) -> flowloom.NodeResult:
        prefix = ctx.data.get("prefix", "line")
        for i in range(ctx.data["lines"]):
            ctx.log(f"{prefix} {i}")
        return flowloom.NodeResult(outputs={})


def loud_workflow(lines: int) -> dict[str, Any]:
    return chain(
        start(), node("loud", "loud", lines=lines), node("quiet", "loud", lines=3, prefix="quiet"), end()
    )


@pytest.fixture
async def server(tmp_path: Path, anyio_backend: str) -> AsyncIterator[LiveServer]:
    registry = NodeRegistry.default()
    registry.register(Loud())
    engine = flowloom.Engine(registry=registry, store=SqlStore(f"sqlite:///{tmp_path / 'logs.db'}"))
    async with live_server(ServerSettings(), engine) as live:
        yield live


async def read_sse(client: httpx.AsyncClient, path: str) -> tuple[list[tuple[int, str, Any]], int]:
    """The frames of a finished run's stream (id, event, data) and how many bytes it sent."""
    frames: list[tuple[int, str, Any]] = []
    fields: dict[str, str] = {}
    size = 0
    async with client.stream("GET", path) as response:
        assert response.status_code == 200, await response.aread()
        async for line in response.aiter_lines():
            size += len(line) + 1
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
            elif fields:
                frames.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
                fields = {}
    return frames, size


async def finished_run(server: LiveServer, lines: int) -> str:
    run = server.engine.start(loud_workflow(lines), {})
    await run.wait()
    return run.id


async def test_a_run_page_and_its_stream_carry_no_log_lines_and_the_panel_pages_them(
    server: LiveServer,
) -> None:
    run_id = await finished_run(server, LINES)
    async with server.client() as client:
        page = await client.get(f"/ui/runs/{run_id}")
        assert page.status_code == 200 and "line 1" not in page.text and len(page.text) < 50_000

        frames, size = await read_sse(client, f"/api/v1/runs/{run_id}/events?exclude=NodeLog")
        kinds = [kind for _, kind, _ in frames]
        assert "NodeLog" not in kinds and kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
        assert [data["node_id"] for _, kind, data in frames if kind == "NodeSucceeded"] == [
            "start_0",
            "loud",
            "quiet",
            "end_0",
        ]
        assert size < 10_000  # the events of four nodes, not 200,000 lines
        assert frames[-1][0] == LINES + 3 + 10  # the ledger's own numbers: every line is still in it

        # the node panel: the tail first, then earlier pages by cursor
        tail = (await client.get(f"/api/v1/runs/{run_id}/logs", params={"node": "loud"})).json()
        assert [line["line"] for line in tail["lines"]] == [f"line {i}" for i in range(LINES - 200, LINES)]
        assert {line["node_id"] for line in tail["lines"]} == {"loud"}
        assert tail["earlier"] == tail["lines"][0]["seq"]
        params = {"node": "loud", "before": tail["earlier"], "limit": 1000}
        earlier = (await client.get(f"/api/v1/runs/{run_id}/logs", params=params)).json()
        assert [line["line"] for line in earlier["lines"]] == [
            f"line {i}" for i in range(LINES - 1200, LINES - 200)
        ]
        pages, before = [tail["lines"]], tail["earlier"]
        while before is not None:  # back to the first line, 10,000 at a time
            params = {"node": "loud", "before": before, "limit": 10_000}
            found = (await client.get(f"/api/v1/runs/{run_id}/logs", params=params)).json()
            pages.insert(0, found["lines"])
            before = found["earlier"]
        assert [line["line"] for page in pages for line in page] == [f"line {i}" for i in range(LINES)]
        quiet = (await client.get(f"/api/v1/runs/{run_id}/logs", params={"node": "quiet"})).json()
        assert [line["line"] for line in quiet["lines"]] == ["quiet 0", "quiet 1", "quiet 2"]

        # a node's own stream: its lines and nothing else; on the WebSocket too
        frames, _ = await read_sse(client, f"/api/v1/runs/{run_id}/events?types=NodeLog&node=quiet")
        assert [(kind, data["line"]) for _, kind, data in frames] == [
            ("NodeLog", f"quiet {i}") for i in range(3)
        ]
        query = f"run_id={run_id}&types=NodeLog,NodeSucceeded&node=quiet&last_event_id={LINES}"
        async with websockets.connect(f"{server.ws_url}/api/v1/events?{query}") as socket:
            messages = [json.loads(raw) async for raw in socket]
        assert [m["type"] for m in messages] == ["NodeLog"] * 3 + ["NodeSucceeded"]

        # the download: every line, in order
        async with client.stream(
            "GET", f"/api/v1/runs/{run_id}/logs", params={"node": "loud", "download": "true"}
        ) as download:
            assert download.headers["content-disposition"] == f'attachment; filename="{run_id}-loud.log"'
            text = (await download.aread()).decode()
        assert text.splitlines() == [f"line {i}" for i in range(LINES)]


async def test_bad_event_filters_are_refused_naming_the_parameter(server: LiveServer) -> None:
    run_id = await finished_run(server, 2)
    async with server.client() as client:
        for query, message in [
            ("types=", "types: name at least one event type"),
            ("exclude=Node%20Log", "exclude: 'Node Log' is not an event type name"),
            ("node=%20", "node: name a node id"),
        ]:
            response = await client.get(f"/api/v1/runs/{run_id}/events?{query}")
            assert response.status_code == 400 and message in response.json()["message"], response.text
        async with websockets.connect(f"{server.ws_url}/api/v1/events?run_id={run_id}&types=a%20b") as socket:
            with pytest.raises(websockets.ConnectionClosed):
                await socket.recv()
            assert (
                socket.close_code == 1008 and "types: 'a b' is not an event type name" in socket.close_reason
            )


async def test_the_node_panel_in_a_browser_shows_the_tail_of_200000_lines(
    server: LiveServer, page: Page
) -> None:
    run_id = await finished_run(server, LINES)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(f"{server.base_url}/ui/runs/{run_id}")
    loud = page.locator('#graph [data-node="loud"]')
    await expect(loud).to_have_attribute("data-status", "succeeded")
    await loud.click()
    log = page.locator("#node-log span")
    await expect(log.last).to_have_text(f"line {LINES - 1}\n")
    await expect(log).to_have_count(200)
    await page.click("#load-earlier")
    await expect(log).to_have_count(400)
    await expect(log.first).to_have_text(f"line {LINES - 400}\n")
    download = await page.locator("#download-log").get_attribute("href")
    assert download == f"/api/v1/runs/{run_id}/logs?node=loud&download=true"
    streams = [url for url in requested if f"/api/v1/runs/{run_id}/events" in url]
    assert streams and all("exclude=NodeLog" in url or "node=loud" in url for url in streams), streams
