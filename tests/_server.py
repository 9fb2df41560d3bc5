"""A real flowloom HTTP server for tests: uvicorn on 127.0.0.1, a port chosen at run time, served in the
test's own event loop; plus small helpers the server tests share."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
from fastapi import FastAPI

import flowloom
from flowloom.server import FlowloomServer, ServerSettings, create_app

_MAX_STARTUP_S = 10.0
_META = {"position": {"x": 0, "y": 0}}


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    engine: flowloom.Engine
    app: FastAPI
    server: FlowloomServer

    @property
    def ws_url(self) -> str:
        return "ws" + self.base_url.removeprefix("http")

    def client(self, **options: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=10.0, **options)


@asynccontextmanager
async def live_server(
    settings: ServerSettings | None = None, engine: flowloom.Engine | None = None
) -> AsyncIterator[LiveServer]:
    """Serve ``create_app(engine, settings)`` until the block ends, then shut it down as Ctrl-C would."""
    engine = engine if engine is not None else flowloom.Engine()
    app = create_app(engine, settings if settings is not None else ServerSettings())
    server = FlowloomServer(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
    async with anyio.create_task_group() as group:
        group.start_soon(server.serve)
        await wait_until(lambda: server.started, _MAX_STARTUP_S)
        try:
            yield LiveServer(f"http://127.0.0.1:{server.port}", engine, app, server)
        finally:
            server.should_exit = True


def echo_workflow() -> dict[str, Any]:
    """start (a required string ``msg``) -> end (``echo`` = "you said <msg>"): the contract's example."""
    return {
        "nodes": [
            {
                "id": "start_0",
                "type": "start",
                "meta": _META,
                "data": {
                    "title": "Start",
                    "outputs": {
                        "type": "object",
                        "properties": {"msg": {"type": "string"}},
                        "required": ["msg"],
                    },
                },
            },
            {
                "id": "end_0",
                "type": "end",
                "meta": _META,
                "data": {
                    "title": "End",
                    "inputs": {"type": "object", "properties": {"echo": {"type": "string"}}},
                    "inputsValues": {"echo": {"type": "template", "content": "you said {{start_0.msg}}"}},
                },
            },
        ],
        "edges": [{"sourceNodeID": "start_0", "targetNodeID": "end_0"}],
    }


def slow_http_workflow(url: str) -> dict[str, Any]:
    """start -> http GET ``url`` -> end: runs as long as the server at ``url`` takes to answer."""
    return {
        "nodes": [
            {
                "id": "start_0",
                "type": "start",
                "meta": _META,
                "data": {"outputs": {"type": "object", "properties": {}}},
            },
            {
                "id": "http_0",
                "type": "http",
                "meta": _META,
                "data": {
                    "api": {"method": "GET", "url": {"type": "constant", "content": url}},
                    "body": {"bodyType": "none"},
                    "headers": {"type": "object", "properties": {}},
                    "headersValues": {},
                    "params": {"type": "object", "properties": {}},
                    "paramsValues": {},
                    "outputs": {"type": "object", "properties": {"body": {"type": "string"}}},
                    "timeout": {"timeout": 10000, "retryTimes": 0},
                },
            },
            {
                "id": "end_0",
                "type": "end",
                "meta": _META,
                "data": {
                    "inputs": {"type": "object", "properties": {"body": {"type": "string"}}},
                    "inputsValues": {"body": {"type": "ref", "content": ["http_0", "body"]}},
                },
            },
        ],
        "edges": [
            {"sourceNodeID": "start_0", "targetNodeID": "http_0"},
            {"sourceNodeID": "http_0", "targetNodeID": "end_0"},
        ],
    }


async def wait_until(predicate: Callable[[], object], timeout_s: float = 5.0) -> None:
    """Poll state that offers no event to wait on (uvicorn's ``started``, a test server's requests)."""
    with anyio.fail_after(timeout_s):
        while not predicate():  # noqa: ASYNC110 (there is no event to wait on)
            await anyio.sleep(0.005)


def text(workflow: dict[str, Any]) -> str:
    return json.dumps(workflow)


async def wait_for_result(client: httpx.AsyncClient, task_id: str, timeout_s: float = 10.0) -> Any:
    """Poll ``/api/task/result`` as the editor does until the task has a result."""
    with anyio.fail_after(timeout_s):
        while True:
            response = await client.get("/api/task/result", params={"taskID": task_id})
            assert response.status_code == 200
            if response.content:
                return response.json()
            await anyio.sleep(0.01)


def assert_clean_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """A JSON error with ``status``, a message, and no trace of a stack."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    for marker in ("Traceback", 'File "', ".py", "  at "):
        assert marker not in response.text, response.text
    body = response.json()
    assert isinstance(body, dict)
    return body
