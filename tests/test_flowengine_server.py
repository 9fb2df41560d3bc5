"""flowengine's REST API and event socket on ``flowloom serve``, against a real uvicorn on 127.0.0.1:
``/health``, ``/api/nodes``, ``/api/workflows`` (saved in the store: they survive a restart; a deleted one
cannot run), ``/api/workflows/{id}/execute`` (the result object; ``?wait=false``), ``/api/execute``, the
WebSocket ``/api/events`` and its ``execution_id`` filter, flowengine's names on the runs API's streams
(``?dialect=flowengine``), token auth, two servers on one PostgreSQL; and ``FlowClient`` against it, in
process and against a ``flowloom serve`` process restarted on its SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
import websockets

from _postgres import PG_TIMEOUT, create_database, drop_database, free_port, postgres_server  # noqa: F401
from _server import LiveServer, live_server
from flowloom import Engine
from flowloom.flowengine import FlowClient, FlowClientError
from flowloom.server import ServerSettings
from flowloom.stores import SqlStore
from test_cli import FLOWLOOM

pytestmark = pytest.mark.anyio

TOKEN = "s3cret-token"


def echo_workflow(name: str = "echo", **extra: Any) -> dict[str, Any]:
    """One shell node printing ``hi <WORD>`` (the run's ``word`` input, as an environment variable)."""
    node = {
        "id": "say",
        "node_type": "shell.exec",
        "config": {"command": "sh", "args": ["-c", 'printf "hi %s" "$WORD"']},
    }
    return {"name": name, "nodes": [node], "connections": [], **extra}


def gated_workflow(prefix: str, gate: Path) -> dict[str, Any]:
    """``<prefix>_wait`` prints a line every 20 ms until ``gate`` exists, then ``<prefix>_done`` echoes:
    a run that cannot end before the test lets it, and says so meanwhile."""
    loop = f'while [ ! -e "{gate}" ]; do echo waiting; sleep 0.02; done'
    return {
        "name": prefix,
        "nodes": [
            {
                "id": f"{prefix}_wait",
                "node_type": "shell.exec",
                "config": {"command": "sh", "args": ["-c", loop], "stream_output": True},
            },
            {
                "id": f"{prefix}_done",
                "node_type": "shell.exec",
                "config": {"command": "echo", "args": [prefix]},
            },
        ],
        "connections": [
            {
                "from_node": f"{prefix}_wait",
                "from_port": "stdout",
                "to_node": f"{prefix}_done",
                "to_port": "stdin",
            }
        ],
    }


def flaky_workflow(counter: Path) -> dict[str, Any]:
    """A node that fails its first attempt and succeeds on its second (``retry_policy``: 3 attempts)."""
    script = (
        f'n=$(cat "{counter}" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "{counter}"; '
        'echo "try $n"; [ $n -ge 2 ]'
    )
    return {
        "name": "flaky",
        "nodes": [
            {
                "id": "flaky",
                "node_type": "shell.exec",
                "config": {"command": "sh", "args": ["-c", script]},
                "retry_policy": {"max_attempts": 3, "delay_ms": 10},
            }
        ],
        "connections": [],
    }


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with live_server(ServerSettings(), Engine(store=f"sqlite:///{tmp_path / 'runs.db'}")) as live:
        yield live


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with server.client() as http:
        yield http


async def test_health_and_node_types(client: httpx.AsyncClient) -> None:
    health = await client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "healthy"
    nodes = (await client.get("/api/nodes")).json()
    shell = next(node for node in nodes if node["type"] == "shell.exec")
    assert set(shell) == {"type", "category", "description"}
    assert shell["category"] and shell["description"]
    assert {"http.request", "transform.json_parse", "docker.run"} <= {node["type"] for node in nodes}


async def test_save_get_list_delete_then_execute_is_404(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/workflows", json=echo_workflow())
    assert created.status_code == 201
    body = created.json()
    assert body["message"] == "Workflow created successfully"
    workflow_id = body["id"]
    saved = (await client.get(f"/api/workflows/{workflow_id}")).json()
    assert saved["name"] == "echo" and saved["id"] == workflow_id and saved["nodes"][0]["id"] == "say"
    named = await client.post("/api/workflows", json=echo_workflow("first name", id="my-flow"))
    assert named.json()["id"] == "my-flow"
    renamed = await client.post("/api/workflows", json=echo_workflow("named", id="my-flow"))  # replaces it
    assert renamed.status_code == 201 and renamed.json()["id"] == "my-flow"
    listed = {w["id"]: w for w in (await client.get("/api/workflows")).json()}
    assert listed["my-flow"]["name"] == "named" and listed["my-flow"]["nodes"] == 1
    assert listed[workflow_id]["connections"] == 0

    deleted = await client.delete(f"/api/workflows/{workflow_id}")
    assert deleted.status_code == 200
    for answer in (
        await client.get(f"/api/workflows/{workflow_id}"),
        await client.delete(f"/api/workflows/{workflow_id}"),
        await client.post(f"/api/workflows/{workflow_id}/execute", json={"inputs": {}}),
    ):
        assert answer.status_code == 404
        assert answer.json() == {"error": f"Workflow {workflow_id} not found"}
    assert workflow_id not in {w["id"] for w in (await client.get("/api/workflows")).json()}


async def test_a_saved_webhook_keeps_only_its_secret_digest_and_starts_runs(
    client: httpx.AsyncClient,
) -> None:
    hook = {"kind": "webhook", "path": "deploy", "secret": "s3cret-value"}
    created = await client.post("/api/workflows", json=echo_workflow(id="hooked", triggers=[hook]))
    assert created.status_code == 201
    saved = await client.get("/api/workflows/hooked")
    assert "s3cret-value" not in saved.text and saved.json()["triggers"][0]["secret_sha256"]
    refused = await client.post("/hooks/deploy", json={"word": "x"}, headers={"X-Flowloom-Secret": "wrong"})
    assert refused.status_code == 401
    started = await client.post(
        "/hooks/deploy", json={"word": "x"}, headers={"X-Flowloom-Secret": "s3cret-value"}
    )
    assert started.status_code == 201


async def test_execute_returns_the_result_object_with_plain_json_inputs(client: httpx.AsyncClient) -> None:
    workflow_id = (await client.post("/api/workflows", json=echo_workflow())).json()["id"]
    answer = await client.post(f"/api/workflows/{workflow_id}/execute", json={"inputs": {"word": "there"}})
    assert answer.status_code == 200
    result = answer.json()
    assert result["status"] == "succeeded" and result["error"] is None
    assert result["outputs"]["say"]["stdout"] == "hi there"
    assert result["nodes"]["say"]["status"] == "succeeded" and result["nodes"]["say"]["attempts"] == 1
    run = (await client.get(f"/api/v1/runs/{result['run_id']}")).json()
    assert run["status"] == "succeeded"

    unsaved = await client.post("/api/execute", json={"workflow": echo_workflow(), "inputs": {"word": "x"}})
    assert unsaved.json()["outputs"]["say"]["stdout"] == "hi x"


async def test_a_failed_run_is_still_a_result(client: httpx.AsyncClient) -> None:
    failing = {
        "nodes": [
            {"id": "bad", "node_type": "shell.exec", "config": {"command": "sh", "args": ["-c", "exit 3"]}},
            {"id": "after", "node_type": "debug.log", "config": {}},
        ],
        "connections": [
            {"from_node": "bad", "from_port": "stdout", "to_node": "after", "to_port": "message"}
        ],
    }
    answer = await client.post("/api/execute", json={"workflow": failing})
    assert answer.status_code == 200
    result = answer.json()
    assert result["status"] == "failed"
    assert result["error"].startswith("Node bad failed: ")
    assert result["nodes"]["after"] == {"status": "skipped", "attempts": 0, "outputs": {}, "error": None}
    assert result["outputs"] == {}
    sse = await client.get(f"/api/v1/runs/{result['run_id']}/events", params={"dialect": "flowengine"})
    *_, failed, finished = [
        json.loads(f.split("data: ", 1)[1]) for f in sse.text.split("\n\n") if "data: " in f
    ]
    assert failed == {
        "type": "NodeFailed",
        "node_id": "bad",
        "error": result["nodes"]["bad"]["error"],
        "attempts": 1,
    }
    assert finished == {
        "type": "RunFinished",
        "run_id": result["run_id"],
        "status": "failed",
        "error": result["error"],
    }


@pytest.mark.parametrize(
    ("workflow", "fragments"),
    [
        (
            {"nodes": [{"id": "n1", "node_type": "no.such_type", "config": {}}], "connections": []},
            ["n1", "no.such_type"],
        ),
        (
            {"nodes": [{"id": "n2", "node_type": "shell.exec", "config": {}}], "connections": []},
            ["n2", "command"],
        ),
        (
            {
                "nodes": [
                    {"id": "n3", "node_type": "shell.exec", "config": {"command": "echo", "timeout": "soon"}}
                ]
            },
            ["n3", "timeout"],
        ),
        ([1, 2], ["JSON object"]),
    ],
)
async def test_a_bad_workflow_is_a_400_naming_node_and_field(
    client: httpx.AsyncClient, workflow: Any, fragments: list[str]
) -> None:
    for answer in (
        await client.post("/api/workflows", json=workflow),
        await client.post("/api/execute", json={"workflow": workflow}),
    ):
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        for fragment in fragments:
            assert fragment in error
    assert (await client.get("/api/workflows")).json() == []


async def test_bad_requests_are_400_with_the_reason(client: httpx.AsyncClient) -> None:
    workflow_id = (await client.post("/api/workflows", json=echo_workflow())).json()["id"]
    not_json = await client.post(
        "/api/workflows", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]
    bad_inputs = await client.post(f"/api/workflows/{workflow_id}/execute", json={"inputs": [1]})
    assert bad_inputs.status_code == 400 and '"inputs" must be a JSON object' in bad_inputs.json()["error"]
    bad_wait = await client.post(f"/api/workflows/{workflow_id}/execute?wait=later", json={})
    assert bad_wait.status_code == 400 and "wait" in bad_wait.json()["error"]
    no_body = await client.post(f"/api/workflows/{workflow_id}/execute")  # no inputs: none
    assert no_body.json()["outputs"]["say"]["stdout"] == "hi "


async def test_wait_false_answers_at_once_with_a_run_the_runs_api_lists(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    workflow_id = (await client.post("/api/workflows", json=gated_workflow("a", gate))).json()["id"]
    answer = await client.post(f"/api/workflows/{workflow_id}/execute?wait=false", json={"inputs": {}})
    assert answer.status_code == 202
    run_id = answer.json()["execution_id"]
    assert answer.json()["run_id"] == run_id
    listed = (await client.get("/api/v1/runs")).json()["runs"]
    assert run_id in {run["id"] for run in listed}
    assert (await client.get(f"/api/v1/runs/{run_id}")).json()["status"] == "processing"  # the gate is shut
    gate.touch()
    with anyio.fail_after(10):
        while (await client.get(f"/api/v1/runs/{run_id}")).json()["status"] != "succeeded":  # noqa: ASYNC110
            await anyio.sleep(0.02)  # (another client's view: polling is what it can do)


def retried_workflow(counter: Path) -> dict[str, Any]:
    """Fails its first run and succeeds on its second, under ``RetryWorkflow`` (3 runs at most)."""
    count = f'n=$(cat "{counter}" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "{counter}"; echo $n'
    return {
        "nodes": [
            {"id": "count", "node_type": "shell.exec", "config": {"command": "sh", "args": ["-c", count]}},
            {
                "id": "check",
                "node_type": "shell.exec",
                "config": {"command": "sh", "args": ["-c", 'read n; [ "$n" -ge 2 ] && echo "ok on run $n"']},
            },
        ],
        "connections": [
            {"from_node": "count", "from_port": "stdout", "to_node": "check", "to_port": "stdin"}
        ],
        "settings": {"on_error": {"RetryWorkflow": {"max_attempts": 3}}},
    }


async def test_retry_workflow_runs_the_workflow_again_on_the_server(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    result = (await client.post("/api/execute", json={"workflow": retried_workflow(tmp_path / "a")})).json()
    assert result["status"] == "succeeded"
    assert result["outputs"]["check"]["stdout"] == "ok on run 2"
    assert (await client.get("/api/v1/runs", params={"status": "failed"})).json()["runs"] == []
    sse = await client.get(f"/api/v1/runs/{result['run_id']}/events", params={"dialect": "flowengine"})
    lines = [json.loads(f.split("data: ", 1)[1]) for f in sse.text.split("\n\n") if "data: " in f]
    retried = [line for line in lines if line["type"] == "RunRetrying"]
    assert retried == [
        {"type": "RunRetrying", "attempt": 1, "error": "Execution failed: Command exited with code 1"}
    ]
    assert lines[-1] == {
        "type": "RunFinished",
        "run_id": result["run_id"],
        "status": "succeeded",
        "error": None,
    }

    body = {"workflow": retried_workflow(tmp_path / "b")}
    started = (await client.post("/api/execute?wait=false", json=body)).json()
    with anyio.fail_after(15):  # the first attempt fails, the engine starts the run over, it succeeds
        while (await client.get(f"/api/v1/runs/{started['run_id']}")).json()["status"] != "succeeded":  # noqa: ASYNC110
            await anyio.sleep(0.02)  # (another client's view: polling is what it can do)
    assert (tmp_path / "b").read_text() == "2\n"


async def _messages_until(socket: Any, done: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    with anyio.fail_after(15):
        while not done(found):
            found.append(json.loads(await socket.recv()))
    return found


async def test_events_socket_every_run_and_filtered_by_execution_id(
    server: LiveServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    async with websockets.connect(f"{server.ws_url}/api/events") as every:
        started = {}
        for prefix in ("a", "b"):
            body = {"workflow": gated_workflow(prefix, gate)}
            started[prefix] = (await client.post("/api/execute?wait=false", json=body)).json()["run_id"]
        # both runs are seen live (their waiting lines) before the gate opens
        logs = await _messages_until(
            every,
            lambda found: {m["node_id"] for m in found if m["type"] == "NodeLog"} >= {"a_wait", "b_wait"},
        )
        assert {m["line"] for m in logs if m["type"] == "NodeLog"} == {"waiting"}
        async with websockets.connect(f"{server.ws_url}/api/events?execution_id={started['a']}") as only_a:
            gate.touch()
            rest = await _messages_until(
                every, lambda found: sum(m["type"] == "RunFinished" for m in found) == 2
            )
            with anyio.fail_after(15):  # the socket closes when the run has ended
                seen_a = [json.loads(message) async for message in only_a]
    assert {m["run_id"] for m in rest if m["type"] == "RunFinished"} == set(started.values())
    assert {m["node_id"] for m in rest if "node_id" in m} >= {"a_done", "b_done"}

    assert seen_a[0] == {"type": "RunStarted", "run_id": started["a"]}
    assert seen_a[-1] == {"type": "RunFinished", "run_id": started["a"], "status": "succeeded", "error": None}
    assert {m["node_id"] for m in seen_a if "node_id" in m} == {"a_wait", "a_done"}
    kinds = [m["type"] for m in seen_a if m["type"] != "NodeLog"]
    assert kinds == ["RunStarted", *["NodeStarted", "NodeSucceeded"] * 2, "RunFinished"]
    done = next(m for m in seen_a if m["type"] == "NodeSucceeded" and m["node_id"] == "a_done")
    assert done["outputs"]["stdout"] == "a" and done["attempts"] == 1


async def test_events_of_a_run_not_started_yet_come_once_it_starts(
    server: LiveServer, tmp_path: Path
) -> None:
    """``?execution_id=`` of a run this server does not know yet: its events from when it starts, no other's
    (the run ids are chosen here: runs started on the server's engine directly)."""
    gate = tmp_path / "gate"
    async with websockets.connect(f"{server.ws_url}/api/events?execution_id=chosen") as socket:
        server.engine.start(gated_workflow("other", gate), run_id="other")
        server.engine.start(gated_workflow("mine", gate), run_id="chosen")
        first = json.loads(await socket.recv())  # once it is seen (its waiting lines), from then on
        gate.touch()
        rest = await _messages_until(socket, lambda found: found and found[-1]["type"] == "RunFinished")
        seen = [first, *rest]
    assert all(m.get("run_id", "chosen") == "chosen" for m in seen)
    assert {m["node_id"] for m in seen if "node_id" in m} <= {"mine_wait", "mine_done"}
    assert seen[-1] == {"type": "RunFinished", "run_id": "chosen", "status": "succeeded", "error": None}


async def test_runs_api_streams_speak_flowengine_on_request(
    server: LiveServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    result = (await client.post("/api/execute", json={"workflow": flaky_workflow(tmp_path / "n")})).json()
    assert result["nodes"]["flaky"]["attempts"] == 2
    run_id = result["run_id"]
    sse = await client.get(f"/api/v1/runs/{run_id}/events", params={"dialect": "flowengine"})
    frames = [frame for frame in sse.text.split("\n\n") if frame.startswith("id: ")]
    lines = [json.loads(frame.split("data: ", 1)[1]) for frame in frames]
    assert [frame.split("\n")[1] for frame in frames] == [f"event: {line['type']}" for line in lines]
    assert [line["type"] for line in lines] == [
        "RunStarted",
        "NodeStarted",
        "NodeRetrying",
        "NodeSucceeded",
        "RunFinished",
    ]
    retrying = lines[2]
    assert retrying["attempt"] == 1 and retrying["max_attempts"] == 3 and retrying["delay_ms"] == 10
    assert lines[3]["attempts"] == 2 and lines[3]["outputs"]["stdout"] == "try 2"

    async with websockets.connect(
        f"{server.ws_url}/api/v1/events?run_id={run_id}&dialect=flowengine"
    ) as socket:
        over_ws = [json.loads(message) async for message in socket]
    assert over_ws == lines
    unknown = await client.get(f"/api/v1/runs/{run_id}/events", params={"dialect": "klingon"})
    assert unknown.status_code == 400 and "unknown dialect" in unknown.json()["message"]


async def test_the_result_and_events_match_the_cli(client: httpx.AsyncClient, tmp_path: Path) -> None:
    """The server says what ``flowloom run --jsonl`` says for the same workflow (run ids aside)."""
    workflow = echo_workflow()
    (tmp_path / "wf.json").write_text(json.dumps(workflow))
    done = await anyio.run_process(
        [FLOWLOOM, "run", tmp_path / "wf.json", "--inputs", '{"word": "cli"}', "--jsonl", "--no-store"]
    )
    *cli_events, cli_result = [json.loads(line) for line in done.stdout.decode().splitlines()]
    served = (
        await client.post("/api/execute", json={"workflow": workflow, "inputs": {"word": "cli"}})
    ).json()
    sse = await client.get(f"/api/v1/runs/{served['run_id']}/events", params={"dialect": "flowengine"})
    events = [
        json.loads(frame.split("data: ", 1)[1]) for frame in sse.text.split("\n\n") if "data: " in frame
    ]

    def without_ids(value: Any) -> Any:
        return {k: v for k, v in value.items() if k != "run_id"}

    assert without_ids(served) == without_ids(cli_result)
    assert [without_ids(e) for e in events] == [without_ids(e) for e in cli_events]


async def test_a_run_of_the_cli_streams_from_the_store_as_the_cli_printed_it(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """A run this server never saw (a ``flowloom run`` process on its store): its flowengine lines are
    read back from the ledger, the node records and the stored workflow, and are the lines the CLI
    printed."""
    workflow = flaky_workflow(tmp_path / "n")
    workflow["nodes"][0]["config"]["stream_output"] = True
    (tmp_path / "wf.json").write_text(json.dumps(workflow))
    store = f"sqlite:///{tmp_path / 'runs.db'}"  # the server's
    done = await anyio.run_process([FLOWLOOM, "run", tmp_path / "wf.json", "--jsonl", "--store", store])
    *printed, result = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert result["nodes"]["flaky"]["attempts"] == 2
    assert "NodeRetrying" in {line["type"] for line in printed}
    assert {"type": "NodeLog", "node_id": "flaky", "stream": "stdout", "line": "try 2"} in printed
    sse = await client.get(f"/api/v1/runs/{result['run_id']}/events", params={"dialect": "flowengine"})
    frames = [frame for frame in sse.text.split("\n\n") if "data: " in frame]
    assert [json.loads(frame.split("data: ", 1)[1]) for frame in frames] == printed


async def test_token_auth(tmp_path: Path) -> None:
    settings = ServerSettings(token=TOKEN)
    async with live_server(settings, Engine(store=f"sqlite:///{tmp_path / 'runs.db'}")) as live:
        async with live.client() as anonymous:
            assert (await anonymous.get("/health")).status_code == 200  # probes need no token
            for method, path in (("GET", "/api/workflows"), ("GET", "/api/nodes"), ("POST", "/api/execute")):
                assert (await anonymous.request(method, path)).status_code == 401
        with FlowClient(live.base_url) as refused:
            with pytest.raises(FlowClientError) as caught:
                await anyio.to_thread.run_sync(refused.list_workflows)
        assert caught.value.status == 401 and "bearer token" in str(caught.value)
        with FlowClient(live.base_url, token=TOKEN) as allowed:
            result = await anyio.to_thread.run_sync(allowed.execute, echo_workflow(), {"word": "ok"})
        assert result["outputs"]["say"]["stdout"] == "hi ok"
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(f"{live.ws_url}/api/events"):
                pass
        async with websockets.connect(f"{live.ws_url}/api/events?token={TOKEN}") as socket:
            assert socket.protocol.state.name == "OPEN"


async def test_flow_client(server: LiveServer, tmp_path: Path) -> None:
    client = FlowClient(server.base_url)

    def session() -> None:
        with client:
            assert client.health()["status"] == "healthy"
            assert "shell.exec" in {node["type"] for node in client.list_nodes()}
            workflow_id = client.create_workflow(echo_workflow("via client"))
            assert client.get_workflow(workflow_id)["name"] == "via client"
            assert [w["id"] for w in client.list_workflows()] == [workflow_id]
            assert (
                client.execute_saved(workflow_id, {"word": "saved"})["outputs"]["say"]["stdout"] == "hi saved"
            )
            result = client.execute(echo_workflow(), {"word": "sdk"})
            assert result["status"] == "succeeded" and result["outputs"]["say"]["stdout"] == "hi sdk"
            assert [w["id"] for w in client.list_workflows()] == [workflow_id]  # execute saved nothing
            assert client.delete_workflow(workflow_id) == {"message": "Workflow deleted successfully"}
            with pytest.raises(FlowClientError) as caught:
                client.get_workflow(workflow_id)
            assert caught.value.status == 404 and f"Workflow {workflow_id} not found" in str(caught.value)
            with pytest.raises(FlowClientError) as invalid:
                client.create_workflow({"nodes": [{"id": "n", "node_type": "nope"}], "connections": []})
            assert invalid.value.status == 400 and "nope" in str(invalid.value)

    await anyio.to_thread.run_sync(session)
    (tmp_path / "wf.json").write_text(json.dumps(echo_workflow()))
    with FlowClient(server.base_url) as other:
        from_async = await other.execute_async(echo_workflow(), {"word": "async"})
        from_file = await anyio.to_thread.run_sync(other.execute_file, tmp_path / "wf.json", {"word": "file"})
    assert from_async["outputs"]["say"]["stdout"] == "hi async"
    assert from_file["outputs"]["say"]["stdout"] == "hi file"
    with FlowClient(f"http://127.0.0.1:{free_port()}") as nowhere:
        with pytest.raises(FlowClientError, match="Cannot connect"):
            await anyio.to_thread.run_sync(nowhere.health)


@PG_TIMEOUT
async def test_servers_on_one_postgresql_share_saved_workflows(postgres_url: str) -> None:
    url = create_database(postgres_url)
    try:
        async with (
            SqlStore(url) as one_store,
            SqlStore(url) as other_store,
            live_server(ServerSettings(), Engine(store=one_store)) as one,
            live_server(ServerSettings(), Engine(store=other_store)) as other,
            one.client() as first,
            other.client() as second,
        ):
            workflow_id = (await first.post("/api/workflows", json=echo_workflow("shared"))).json()["id"]
            assert (await second.get(f"/api/workflows/{workflow_id}")).json()["name"] == "shared"
            ran = await second.post(f"/api/workflows/{workflow_id}/execute", json={"inputs": {"word": "pg"}})
            assert ran.json()["outputs"]["say"]["stdout"] == "hi pg"
            assert (await second.delete(f"/api/workflows/{workflow_id}")).status_code == 200
            gone = await first.post(f"/api/workflows/{workflow_id}/execute", json={})
            assert gone.status_code == 404
    finally:
        drop_database(url)


def _serve(port: int, database: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FLOWLOOM_DATABASE_URL": f"sqlite:///{database}"}
    env.pop("FLOWLOOM_API_TOKEN", None)
    command = [str(FLOWLOOM), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with (database.parent / "serve.log").open("ab") as log:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, env=env)


def _healthy(client: FlowClient, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            client.health()
            return
        except FlowClientError:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "flowloom serve did not come up"
            time.sleep(0.1)


def test_saved_workflows_survive_a_restart_of_flowloom_serve(tmp_path: Path) -> None:
    database = tmp_path / "fl.db"
    port = free_port()
    with FlowClient(f"http://127.0.0.1:{port}") as client:
        first = _serve(port, database)
        try:
            _healthy(client, first, tmp_path / "serve.log")
            kept = client.create_workflow(echo_workflow("kept"))
            gone = client.create_workflow(echo_workflow("gone"))
            client.delete_workflow(gone)
        finally:
            first.terminate()
            first.wait(30)
        second = _serve(port, database)
        try:
            _healthy(client, second, tmp_path / "serve.log")
            assert [w["name"] for w in client.list_workflows()] == ["kept"]
            assert client.get_workflow(kept)["name"] == "kept"
            assert client.execute_saved(kept, {"word": "again"})["outputs"]["say"]["stdout"] == "hi again"
            with pytest.raises(FlowClientError) as caught:
                client.execute_saved(gone)
            assert caught.value.status == 404
        finally:
            second.terminate()
            second.wait(30)
