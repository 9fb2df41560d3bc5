"""The upstream flowgram server contract (``server.md``), over HTTP against a real uvicorn server: every
recorded request gets the recorded response shape (ids and times aside), with flowloom's listed
improvements; and a few conformance cases run through ``/api/task/run`` report what the Python API does."""

from __future__ import annotations

import ast
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

import flowloom
from _conformance import load_cases, substitute
from _server import (
    LiveServer,
    echo_workflow,
    live_server,
    slow_http_workflow,
    text,
    wait_for_result,
    wait_until,
)
from flowloom.testing import HttpEchoServer, OpenAIMockServer

pytestmark = pytest.mark.anyio

JSON_UTF8 = "application/json; charset=utf-8"
INFO_KEYS = {"name", "title", "description", "runtime", "version", "time"}
EMPTY_MESSAGES: dict[str, list[Any]] = {"log": [], "info": [], "debug": [], "error": [], "warning": []}


def _required_issue(path: str, expected: str) -> dict[str, Any]:
    return {
        "code": "invalid_type",
        "expected": expected,
        "received": "undefined",
        "path": [path],
        "message": "Required",
    }


def _ghost_workflow() -> dict[str, Any]:
    workflow = echo_workflow()
    workflow["edges"].append({"sourceNodeID": "start_0", "targetNodeID": "ghost_0"})
    return workflow


def _assert_empty(response: httpx.Response) -> None:
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == "0"


@pytest.fixture
async def server() -> AsyncIterator[LiveServer]:
    async with live_server() as live:
        yield live


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with server.client() as http:
        yield http


async def _run(client: httpx.AsyncClient, workflow: dict[str, Any], inputs: dict[str, Any]) -> str:
    response = await client.post("/api/task/run", json={"schema": text(workflow), "inputs": inputs})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON_UTF8
    body = response.json()
    assert set(body) == {"taskID"}
    return str(body["taskID"])


def test_only_hosts_import_the_server() -> None:
    """Only the CLI (``serve``; ``triggers list`` reads the server's trigger book) and the lazy
    ``flowloom.create_app`` import ``flowloom.server``."""
    root = Path(flowloom.__file__).parent
    importers = set()
    for path in root.rglob("*.py"):
        module = path.relative_to(root).parts
        if module[0] == "server":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [f"{'.' * node.level}{node.module or ''}"]
            if any(n in ("flowloom.server", ".server") or n.startswith("flowloom.server.") for n in names):
                importers.add("/".join(module))
    assert importers == {"__init__.py", "cli/_app.py", "cli/_triggers.py"}


# -- REST -----------------------------------------------------------------------------------------


async def test_info_and_api_info_give_the_same_body(client: httpx.AsyncClient) -> None:
    info = await client.get("/info")
    assert info.status_code == 200
    assert info.headers["content-type"] == JSON_UTF8
    assert set(info.json()) == INFO_KEYS
    api_info = await client.get("/api/info")  # upstream: an empty body; flowloom: the same as /info
    assert api_info.status_code == 200
    assert {k: v for k, v in api_info.json().items() if k != "time"} == {
        k: v for k, v in info.json().items() if k != "time"
    }


async def test_run_result_report_and_cancel_of_a_finished_task(client: httpx.AsyncClient) -> None:
    task_id = await _run(client, echo_workflow(), {"msg": "hi"})
    assert await wait_for_result(client, task_id) == {"echo": "you said hi"}

    report = (await client.get("/api/task/report", params={"taskID": task_id})).json()
    assert set(report) == {"id", "inputs", "outputs", "workflowStatus", "reports", "messages"}
    assert report["inputs"] == {"msg": "hi"}
    assert report["outputs"] == {"echo": "you said hi"}
    status = report["workflowStatus"]
    assert set(status) == {"status", "terminated", "startTime", "endTime", "timeCost"}
    assert (status["status"], status["terminated"]) == ("succeeded", True)
    assert set(report["reports"]) == {"start_0", "end_0"}
    start, end = report["reports"]["start_0"], report["reports"]["end_0"]
    assert set(start) == {"id", "status", "terminated", "startTime", "endTime", "timeCost", "snapshots"}
    assert [(s["nodeID"], s["inputs"], s["outputs"], s["data"]) for s in start["snapshots"]] == [
        ("start_0", {}, {"msg": "hi"}, {})
    ]
    assert [(s["inputs"], s["outputs"]) for s in end["snapshots"]] == [
        ({"echo": "you said hi"}, {"echo": "you said hi"})
    ]
    assert report["messages"] == EMPTY_MESSAGES

    cancel = await client.put("/api/task/cancel", json={"taskID": task_id})
    assert (cancel.status_code, cancel.json()) == (200, {"success": True})


async def test_unknown_task(client: httpx.AsyncClient) -> None:
    cancel = await client.put("/api/task/cancel", json={"taskID": "nope"})
    assert (cancel.status_code, cancel.json()) == (200, {"success": False})
    _assert_empty(await client.get("/api/task/result", params={"taskID": "nope"}))
    _assert_empty(await client.get("/api/task/report", params={"taskID": "nope"}))


async def test_input_validation_failures_are_zod_shaped(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/task/result")
    assert missing.status_code == 400
    assert missing.headers["content-type"] == JSON_UTF8
    assert missing.json() == {
        "message": "Input validation failed",
        "code": "BAD_REQUEST",
        "issues": [_required_issue("taskID", "string")],
    }
    as_object = await client.post("/api/task/run", json={"schema": echo_workflow(), "inputs": {}})
    assert (as_object.status_code, as_object.json()["issues"]) == (
        400,
        [
            {
                "code": "invalid_type",
                "expected": "string",
                "received": "object",
                "path": ["schema"],
                "message": "Expected string, received object",
            }
        ],
    )
    no_inputs = await client.post("/api/task/run", json={"schema": text(echo_workflow())})
    assert (no_inputs.status_code, no_inputs.json()["issues"]) == (400, [_required_issue("inputs", "object")])


async def test_validate(client: httpx.AsyncClient) -> None:
    schema = text(echo_workflow())
    ok = await client.post("/api/task/validate", json={"schema": schema, "inputs": {"msg": "a"}})
    assert (ok.status_code, ok.json()) == (200, {"valid": True})
    bad_inputs = await client.post("/api/task/validate", json={"schema": schema, "inputs": {}})
    assert bad_inputs.json() == {
        "valid": False,
        "errors": ['JSON Schema validation failed: Missing required property "msg" at root'],
    }
    ghost = await client.post(
        "/api/task/validate", json={"schema": text(_ghost_workflow()), "inputs": {"msg": "a"}}
    )
    assert ghost.json() == {
        "valid": False,
        "errors": ['Workflow schema edge target node "ghost_0" not exist'],
    }


async def test_schema_text_that_is_not_json_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/task/run", json={"schema": "{bad", "inputs": {}})
    assert response.status_code == 400  # upstream: 200 with an empty body
    body = response.json()
    assert body["code"] == "BAD_REQUEST"
    assert body["message"].startswith("Invalid schema JSON: ")


async def test_edge_to_a_missing_node_gives_a_failed_task(client: httpx.AsyncClient) -> None:
    task_id = await _run(client, _ghost_workflow(), {"msg": "a"})  # upstream: 200 with an empty body (D7)
    assert await wait_for_result(client, task_id) == {}
    report = await client.get("/api/task/report", params={"taskID": task_id})
    assert report.status_code == 200
    assert report.json()["workflowStatus"]["status"] == "failed"
    assert [m["message"] for m in report.json()["messages"]["error"]] == [
        'Workflow schema edge target node "ghost_0" not exist'
    ]


async def test_task_whose_inputs_fail_validation(client: httpx.AsyncClient) -> None:
    task_id = await _run(client, echo_workflow(), {})
    assert await wait_for_result(client, task_id) == {}
    report = await client.get("/api/task/report", params={"taskID": task_id})
    assert report.status_code == 200  # upstream: 500 "Output validation failed"
    body = report.json()
    assert (body["workflowStatus"]["status"], body["workflowStatus"]["terminated"]) == ("failed", True)
    assert body["reports"] == {}
    assert [m["message"] for m in body["messages"]["error"]] == [
        'JSON Schema validation failed: Missing required property "msg" at root'
    ]


async def test_unknown_path_is_not_found_and_wrong_method_is_not_allowed(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/nothing")
    assert (response.status_code, response.json()) == (404, {"message": "Not found", "code": "NOT_FOUND"})
    # upstream says 404 for a known path with the wrong method too (issue 21: flowloom says 405)
    for method, path, allowed in (
        ("GET", "/api/task/run", "POST"),
        ("GET", "/api/task/cancel", "PUT"),
        ("POST", "/api/task/result", "GET"),
    ):
        response = await client.request(method, path)
        assert response.status_code == 405
        assert response.json() == {
            "message": f"Method {method} is not allowed on {path}",
            "code": "METHOD_NOT_ALLOWED",
        }
        assert response.headers["allow"] == allowed


async def test_running_task_then_cancelled(client: httpx.AsyncClient) -> None:
    async with HttpEchoServer(delay_s=10.0) as echo:
        url = f"{echo.base_url}/slow"
        task_id = await _run(client, slow_http_workflow(url), {"msg": "hi"})
        await wait_until(lambda: echo.requests)  # the HTTP node is waiting on the slow server
        report = (await client.get("/api/task/report", params={"taskID": task_id})).json()
        status = report["workflowStatus"]
        assert (status["status"], status["terminated"]) == ("processing", False)
        assert "endTime" not in status and {"startTime", "timeCost"} <= set(status)
        assert report["outputs"] == {}
        assert report["reports"]["start_0"]["status"] == "succeeded"
        http = report["reports"]["http_0"]
        assert (http["status"], http["terminated"], "endTime" in http) == ("processing", False, False)
        [snapshot] = http["snapshots"]
        assert "outputs" not in snapshot
        assert (snapshot["inputs"]["method"], snapshot["inputs"]["url"]) == ("GET", url)
        _assert_empty(await client.get("/api/task/result", params={"taskID": task_id}))

        cancel = await client.put("/api/task/cancel", json={"taskID": task_id})
        assert (cancel.status_code, cancel.json()) == (200, {"success": True})
        assert (await client.get("/api/task/result", params={"taskID": task_id})).json() == {}
        report = (await client.get("/api/task/report", params={"taskID": task_id})).json()
        assert (report["workflowStatus"]["status"], report["workflowStatus"]["terminated"]) == (
            "canceled",
            True,
        )
        assert "endTime" in report["workflowStatus"]
        assert report["outputs"] == {}
        assert report["reports"]["start_0"]["status"] == "succeeded"
        assert (report["reports"]["http_0"]["status"], report["reports"]["http_0"]["terminated"]) == (
            "canceled",
            True,
        )


async def test_cors_allows_any_origin_by_default(client: httpx.AsyncClient) -> None:
    origin = {"Origin": "http://editor.example"}
    preflight = await client.options(
        "/api/task/run",
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    response = await client.get("/api/task/result", params={"taskID": "nope"}, headers=origin)
    assert response.headers["access-control-allow-origin"] == "*"


async def test_openapi_and_docs(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    for path in (
        "/info",
        "/api/info",
        "/api/task/run",
        "/api/task/report",
        "/api/task/cancel",
        "/api/v1/runs",
    ):
        assert path in schema["paths"], path
    assert "put" in schema["paths"]["/api/task/cancel"]
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


# -- tRPC -----------------------------------------------------------------------------------------


def _query(name: str, value: Any) -> str:
    return f"/trpc/{quote(name, safe='')}?input={quote(json.dumps(value))}"


async def test_trpc_run_result_and_nothing(client: httpx.AsyncClient) -> None:
    run = await client.post(
        "/trpc/%2Ftask%2Frun", json={"schema": text(echo_workflow()), "inputs": {"msg": "t"}}
    )
    assert run.status_code == 200
    task_id = run.json()["result"]["data"]["taskID"]
    assert await wait_for_result(client, task_id) == {"echo": "you said t"}
    result = await client.get(_query("/task/result", {"taskID": task_id}))
    assert (result.status_code, result.json()) == (200, {"result": {"data": {"echo": "you said t"}}})
    unknown = await client.get(_query("/task/result", {"taskID": "nope"}))
    assert (unknown.status_code, unknown.json()) == (200, {"result": {}})
    info = await client.get("/trpc/%2Finfo")  # upstream {"result":{}}; flowloom returns what /info returns
    assert info.status_code == 200 and set(info.json()["result"]["data"]) == INFO_KEYS


async def test_trpc_bad_input_is_a_zod_message(client: httpx.AsyncClient) -> None:
    response = await client.get(_query("/task/result", {}))
    assert response.status_code == 400
    error = response.json()["error"]
    assert json.loads(error["message"]) == [_required_issue("taskID", "string")]
    assert error["message"].startswith('[\n  {\n    "code": "invalid_type",')
    assert error["code"] == -32600
    assert error["data"] == {"code": "BAD_REQUEST", "httpStatus": 400, "path": "/task/result"}


async def test_trpc_dot_names_and_double_slash_are_accepted(client: httpx.AsyncClient) -> None:
    body = {"schema": text(echo_workflow()), "inputs": {"msg": "d"}}
    for path in ("/trpc/task.run", "/trpc//task/run"):
        response = await client.post(path, json=body)
        assert response.status_code == 200, (path, response.text)
        task_id = response.json()["result"]["data"]["taskID"]
        assert await wait_for_result(client, task_id) == {"echo": "you said d"}
    report = await client.get(_query("task.report", {"taskID": task_id}))
    assert report.json()["result"]["data"]["outputs"] == {"echo": "you said d"}
    info = await client.get("/trpc/info")
    assert set(info.json()["result"]["data"]) == INFO_KEYS


async def test_trpc_unknown_procedure_or_wrong_kind_is_not_found(client: httpx.AsyncClient) -> None:
    unknown = await client.post("/trpc/task.nope", json={})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == 'No "mutation"-procedure on path "task.nope"'
    assert (unknown.json()["error"]["code"], unknown.json()["error"]["data"]["code"]) == (-32004, "NOT_FOUND")
    query_as_mutation = await client.post("/trpc/%2Ftask%2Fresult", json={"taskID": "x"})
    assert query_as_mutation.status_code == 404
    assert query_as_mutation.json()["error"]["message"] == 'No "mutation"-procedure on path "/task/result"'
    mutation_as_query = await client.get(_query("/task/run", {}))
    assert mutation_as_query.json()["error"]["message"] == 'No "query"-procedure on path "/task/run"'
    assert "stack" not in unknown.json()["error"]["data"]


async def test_trpc_json_wrapper_is_unwrapped(client: httpx.AsyncClient) -> None:
    body = {"json": {"schema": text(echo_workflow()), "inputs": {"msg": "w"}}}
    response = await client.post("/trpc/%2Ftask%2Frun", json=body)  # upstream: 400
    assert response.status_code == 200
    assert await wait_for_result(client, response.json()["result"]["data"]["taskID"]) == {
        "echo": "you said w"
    }


async def test_trpc_batches(client: httpx.AsyncClient) -> None:
    task_id = await _run(client, echo_workflow(), {"msg": "t"})
    await wait_for_result(client, task_id)
    names = "%2Ftask%2Fresult,%2Ftask%2Freport"
    both = await client.get(
        f"/trpc/{names}",
        params={"batch": "1", "input": json.dumps({"0": {"taskID": task_id}, "1": {"taskID": "x"}})},
    )
    assert (both.status_code, both.json()) == (
        200,
        [{"result": {"data": {"echo": "you said t"}}}, {"result": {}}],
    )
    mixed = await client.get(
        "/trpc/%2Ftask%2Fresult,%2Ftask%2Fresult",
        params={"batch": "1", "input": json.dumps({"0": {"taskID": task_id}, "1": {}})},
    )
    assert mixed.status_code == 207
    assert mixed.json()[0] == {"result": {"data": {"echo": "you said t"}}}
    assert mixed.json()[1]["error"]["data"]["code"] == "BAD_REQUEST"
    failed = await client.get(
        "/trpc/%2Ftask%2Fresult,%2Ftask%2Freport",
        params={"batch": "1", "input": json.dumps({"0": {}, "1": {}})},
    )
    assert failed.status_code == 400 and [e["error"]["code"] for e in failed.json()] == [-32600, -32600]
    mutations = await client.post(
        "/trpc/task.cancel,task.cancel?batch=1", json={"0": {"taskID": task_id}, "1": {"taskID": "nope"}}
    )
    assert mutations.json() == [
        {"result": {"data": {"success": True}}},
        {"result": {"data": {"success": False}}},
    ]


# -- conformance through the server -------------------------------------------------------------------

_CASES = (
    "fixture-basic",
    "fixture-branch-1",
    "fixture-code-1",
    "fixture-loop-break-continue",
    "fixture-global-variable",
    "code-js-throw-error",
    "join-diamond",
    "dev-d7-edge-target-missing",
    "dev-d10-type-mismatch-warning",
    "inputs-required-missing",
    "http-404-passthrough",
)


def _essence(report: dict[str, Any]) -> dict[str, Any]:
    """What two runs of one case share: statuses, outputs, snapshots and messages (no ids or times)."""
    return {
        "status": report["workflowStatus"]["status"],
        "outputs": report["outputs"],
        "nodes": {
            node_id: (
                node["status"],
                [(s.get("outputs") is None, s.get("branch"), s.get("error")) for s in node["snapshots"]],
            )
            for node_id, node in report["reports"].items()
        },
        "messages": {
            kind: [(m["message"], m.get("nodeID")) for m in items]
            for kind, items in report["messages"].items()
        },
    }


async def test_conformance_cases_report_as_the_python_api_does(server: LiveServer) -> None:
    cases = [case for case in load_cases() if case["id"] in _CASES]
    assert {case["id"] for case in cases} == set(_CASES)
    engine = flowloom.Engine()
    async with HttpEchoServer() as echo, OpenAIMockServer() as llm, server.client() as client, engine:
        servers = {"{{HTTP_ECHO}}": echo.base_url, "{{LLM_MOCK}}": llm.base_url}
        for case in cases:
            schema = substitute(case["schema"], servers)
            inputs = substitute(case["inputs"], servers)
            task_id = await _run(client, schema, inputs)
            outputs = await wait_for_result(client, task_id)
            over_http = (await client.get("/api/task/report", params={"taskID": task_id})).json()
            direct = (await engine.run(json.dumps(schema), inputs)).report().to_json()
            assert _essence(over_http) == _essence(direct), case["id"]
            assert outputs == direct["outputs"], case["id"]
            assert over_http["workflowStatus"]["status"] == case["expect"]["status"], case["id"]
