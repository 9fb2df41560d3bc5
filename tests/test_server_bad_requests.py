"""Every malformed request gets a clear 4xx JSON answer (no stack trace), and the server keeps serving."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
import websockets

import flowloom
from _server import LiveServer, assert_clean_error, echo_workflow, live_server, text, wait_for_result
from flowloom.server import ServerSettings

pytestmark = pytest.mark.anyio

TOKEN = "s3cret-token"


@pytest.fixture
async def server() -> AsyncIterator[LiveServer]:
    async with live_server(ServerSettings(max_body_bytes=10_000)) as live:
        yield live


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with server.client() as http:
        yield http


async def _still_serving(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/task/run", json={"schema": text(echo_workflow()), "inputs": {"msg": "ok"}}
    )
    assert response.status_code == 200
    assert await wait_for_result(client, response.json()["taskID"]) == {"echo": "you said ok"}


def _issues(response: httpx.Response) -> list[tuple[list[Any], str]]:
    body = assert_clean_error(response, 400)
    assert (body["message"], body["code"]) == ("Input validation failed", "BAD_REQUEST")
    return [(issue["path"], issue["message"]) for issue in body["issues"]]


async def test_missing_fields(client: httpx.AsyncClient) -> None:
    assert _issues(await client.post("/api/task/run", json={})) == [
        (["schema"], "Required"),
        (["inputs"], "Required"),
    ]
    assert _issues(await client.post("/api/task/run")) == [(["schema"], "Required"), (["inputs"], "Required")]
    assert _issues(await client.put("/api/task/cancel", json={})) == [(["taskID"], "Required")]
    assert _issues(await client.get("/api/task/report")) == [(["taskID"], "Required")]
    assert _issues(await client.post("/api/task/validate", json={"inputs": {}})) == [(["schema"], "Required")]
    assert _issues(await client.post("/api/v1/runs", json={"inputs": {}})) == [(["workflow"], "Required")]
    await _still_serving(client)


async def test_wrong_types(client: httpx.AsyncClient) -> None:
    schema = text(echo_workflow())
    assert _issues(await client.post("/api/task/run", json={"schema": 42, "inputs": []})) == [
        (["schema"], "Expected string, received number"),
        (["inputs"], "Expected object, received array"),
    ]
    assert _issues(await client.post("/api/task/run", json=[schema, {}])) == [
        ([], "Expected object, received array")
    ]
    assert _issues(await client.put("/api/task/cancel", json={"taskID": None})) == [
        (["taskID"], "Expected string, received null")
    ]
    assert _issues(await client.post("/api/v1/runs", json={"workflow": [], "inputs": "x"})) == [
        (["workflow"], "Expected object | string, received array"),
        (["inputs"], "Expected object, received string"),
    ]
    await _still_serving(client)


async def test_schema_that_is_not_json(client: httpx.AsyncClient) -> None:
    for path, body in (
        ("/api/task/run", {"schema": "{bad", "inputs": {}}),
        ("/api/v1/runs", {"workflow": "nodes: []", "inputs": {}}),
    ):
        error = assert_clean_error(await client.post(path, json=body), 400)
        assert error["code"] == "BAD_REQUEST"
        assert error["message"].startswith(("Invalid schema JSON: ", "Invalid workflow JSON: "))
        assert "line 1 column" in error["message"]
    trpc = await client.post("/trpc/task.run", json={"schema": "{bad", "inputs": {}})
    assert trpc.status_code == 400
    assert trpc.json()["error"]["message"].startswith("Invalid schema JSON: ")
    await _still_serving(client)


async def test_body_that_is_not_json(client: httpx.AsyncClient) -> None:
    for content in (b"{schema:", b"\xff\xfe\x00", b'{"schema": NaN, "inputs": {}}', b"[" * 100_00):
        response = await client.post(
            "/api/task/run", content=content, headers={"Content-Type": "application/json"}
        )
        body = assert_clean_error(response, 400 if len(content) <= 10_000 else 413)
        assert body["code"] in ("PARSE_ERROR", "PAYLOAD_TOO_LARGE")
        assert body["message"].startswith(
            ("Request body is not valid JSON", "Request body is nested", "Request body too")
        )
    trpc = await client.post("/trpc/task.run", content=b"{nope")
    assert (trpc.status_code, trpc.json()["error"]["data"]["code"], trpc.json()["error"]["code"]) == (
        400,
        "PARSE_ERROR",
        -32700,
    )
    bad_input = await client.get("/trpc/task.result", params={"input": "{"})
    assert bad_input.status_code == 400 and bad_input.json()["error"]["message"].startswith(
        '"input" is not valid JSON'
    )
    await _still_serving(client)


async def test_unknown_ids(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/task/report", params={"taskID": "nope"})).content == b""
    assert (await client.put("/api/task/cancel", json={"taskID": "nope"})).json() == {"success": False}
    for method, path in (
        ("GET", "/api/v1/runs/nope"),
        ("POST", "/api/v1/runs/nope/cancel"),
        ("GET", "/api/v1/runs/nope/events"),
    ):
        body = assert_clean_error(await client.request(method, path), 404)
        assert body == {"message": "Run 'nope' not found", "code": "NOT_FOUND"}
    await _still_serving(client)


async def test_oversized_bodies(client: httpx.AsyncClient) -> None:
    big = {"schema": "x" * 20_000, "inputs": {}}
    declared = await client.post("/api/task/run", json=big)  # judged on Content-Length
    body = assert_clean_error(declared, 413)
    assert body["code"] == "PAYLOAD_TOO_LARGE"
    assert "limit is 10000 bytes" in body["message"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: judged while reading
        for _ in range(20):
            yield b" " * 1000

    streamed = await client.post("/api/task/run", content=chunks())
    assert assert_clean_error(streamed, 413)["message"] == "Request body too large: more than 10000 bytes"
    trpc = await client.post("/trpc/task.run", content=chunks())
    assert (trpc.status_code, trpc.json()["error"]["data"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    await _still_serving(client)


async def test_trpc_malformed_batches_and_unknown_procedures(client: httpx.AsyncClient) -> None:
    not_an_object = await client.get(
        "/trpc/task.result,task.result", params={"batch": "1", "input": "[1, 2]"}
    )
    assert not_an_object.status_code == 400
    assert not_an_object.json()["error"]["message"] == '"input" needs to be an object when doing a batch call'
    too_many = await client.get("/trpc/" + ",".join(["info"] * 101), params={"batch": "1"})
    assert too_many.status_code == 400 and "at most 100 calls" in too_many.json()["error"]["message"]
    unknown = await client.get("/trpc/nope,info", params={"batch": "1"})
    assert unknown.status_code == 207
    assert unknown.json()[0]["error"]["data"] == {"code": "NOT_FOUND", "httpStatus": 404, "path": "nope"}
    empty = await client.get("/trpc/")
    assert (empty.status_code, empty.json()["error"]["code"]) == (404, -32004)
    wrong_method = await client.put("/trpc/task.run", json={})
    assert (wrong_method.status_code, wrong_method.json()["error"]["data"]["code"]) == (
        405,
        "METHOD_NOT_SUPPORTED",
    )
    for response in (not_an_object, too_many, unknown, empty, wrong_method):
        assert "stack" not in response.text and ".py" not in response.text
    await _still_serving(client)


async def test_bad_query_parameters(client: httpx.AsyncClient) -> None:
    for params in ({"limit": "many"}, {"limit": "0"}, {"offset": "-1"}, {"status": "sleeping"}):
        body = assert_clean_error(await client.get("/api/v1/runs", params=params), 400)
        assert body["code"] == "BAD_REQUEST"
        assert body["message"].startswith("Invalid request: query.")
    run_id = (
        await client.post("/api/v1/runs", json={"workflow": echo_workflow(), "inputs": {"msg": "m"}})
    ).json()["id"]
    await wait_for_result(client, run_id)
    bad_resume = await client.get(f"/api/v1/runs/{run_id}/events", headers={"Last-Event-ID": "three"})
    assert "Last-Event-ID must be a non-negative integer" in assert_clean_error(bad_resume, 400)["message"]
    wrong_method = await client.delete("/api/v1/runs")
    assert assert_clean_error(wrong_method, 405)["code"] == "METHOD_NOT_ALLOWED"
    await _still_serving(client)


async def test_token_auth() -> None:
    async with live_server(ServerSettings(token=TOKEN)) as server, server.client() as client:
        assert (await client.get("/info")).status_code == 200  # the one open route
        for headers, fragment in (
            ({}, "Missing bearer token"),
            ({"Authorization": "Bearer nope"}, "Invalid"),
        ):
            for method, path in (("POST", "/api/task/run"), ("GET", "/api/v1/runs"), ("GET", "/trpc/info")):
                response = await client.request(method, path, headers=headers)
                body = assert_clean_error(response, 401)
                assert response.headers["www-authenticate"] == "Bearer"
                text_of = json.dumps(body)
                assert fragment in text_of and TOKEN not in text_of
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"{server.ws_url}/api/v1/events"):
                pass
        assert refused.value.response.status_code == 401

        client.headers["Authorization"] = f"Bearer {TOKEN}"
        await _still_serving(client)
        async with websockets.connect(f"{server.ws_url}/api/v1/events?token={TOKEN}"):
            pass
        run_id = (await client.get("/api/v1/runs")).json()["runs"][0]["id"]
        del client.headers["Authorization"]
        sse = await client.get(f"/api/v1/runs/{run_id}/events", params={"token": TOKEN})
        assert sse.status_code == 200 and "event: RunFinished" in sse.text
        assert (await client.get("/api/v1/runs", params={"token": TOKEN})).status_code == 401  # streams only


class _BrokenEngine(flowloom.Engine):
    """An engine whose validation crashes with a message that must never reach a client."""

    def validate(self, schema: Any, inputs: Mapping[str, Any] | None = None) -> flowloom.ValidationResult:
        raise RuntimeError("boom in /srv/secret/module.py")


async def test_unexpected_errors_are_a_bare_500(caplog: pytest.LogCaptureFixture) -> None:
    async with live_server(engine=_BrokenEngine()) as server, server.client() as client:
        body = {"schema": text(echo_workflow()), "inputs": {"msg": "x"}}
        rest = await client.post("/api/task/validate", json=body)
        assert assert_clean_error(rest, 500) == {
            "message": "Internal server error",
            "code": "INTERNAL_SERVER_ERROR",
        }
        trpc = await client.post("/trpc/task.validate", json=body)
        assert trpc.status_code == 500
        assert trpc.json()["error"]["message"] == "Internal server error" and "boom" not in trpc.text
        await _still_serving(client)
    assert "boom in /srv/secret/module.py" in caplog.text  # logged, with its traceback
