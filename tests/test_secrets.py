"""Secrets are never stored or shown in clear (issue 21): after runs with an LLM key given as a constant, as a
password-format input and by name from the environment, no key is in the SQLite file or its WAL, in any
PostgreSQL table, in the event streams (SSE, WebSocket, ``--jsonl``), in reports or in the CLI's output;
and a resume of such a run in another process gives every LLM call its real key."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import sqlalchemy as sa
import websockets

from _postgres import PG_TIMEOUT, create_database, drop_database, postgres_server  # noqa: F401
from _secrets import CONSTANT_KEY, INPUT_KEY, KEY_VARIABLE, NAMED_KEY, SECRETS, secret_workflow
from _server import LiveServer, live_server
from flowloom import Engine, Status
from flowloom.server import ServerSettings
from flowloom.testing import OpenAIMockServer
from test_cli import flowloom, write

pytestmark = pytest.mark.anyio

EXIT_WAITING = 3
INPUTS = json.dumps({"question": "why?", "key": INPUT_KEY})


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=PG_TIMEOUT)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'runs.db'}"
    else:
        url = create_database(request.getfixturevalue("postgres_url"))
        try:
            yield url
        finally:
            drop_database(url)


def assert_no_secret(where: str, text: str) -> None:
    found = [secret for secret in SECRETS if secret in text]
    assert not found, f"{where} shows {found}"


def stored_text(store_url: str) -> str:
    """Everything the database holds: the SQLite file and its WAL as bytes, or every PostgreSQL table's
    rows as text."""
    if store_url.startswith("sqlite:///"):
        path = Path(store_url.removeprefix("sqlite:///"))
        wal = path.with_name(path.name + "-wal")
        assert wal.exists(), "the store is open: its WAL file is there to be read"
        return (path.read_bytes() + wal.read_bytes()).decode("latin-1")
    engine = sa.create_engine(store_url)
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        assert "run_secrets" in metadata.tables
        with engine.connect() as connection:
            return "\n".join(
                repr(row) for table in metadata.sorted_tables for row in connection.execute(sa.select(table))
            )
    finally:
        engine.dispose()


async def sse_text(server: LiveServer, run_id: str) -> str:
    async with server.client() as client:
        async with client.stream("GET", f"/api/v1/runs/{run_id}/events") as response:
            assert response.status_code == 200
            return "".join([line + "\n" async for line in response.aiter_lines()])


async def socket_text(server: LiveServer, run_id: str) -> str:
    async with websockets.connect(f"{server.ws_url}/api/v1/events?run_id={run_id}") as socket:
        received = [str(raw) async for raw in socket]
        assert socket.close_code == 1000
    return "\n".join(received)


async def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``flowloom ARGS`` in a thread: the local LLM server answers it from this event loop meanwhile."""
    result = await anyio.to_thread.run_sync(lambda: flowloom(*args))
    assert_no_secret(f"`flowloom {' '.join(map(str, args))}`", result.stdout + result.stderr)
    return result


async def test_no_secret_is_stored_or_shown_and_another_process_resumes_with_them(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, NAMED_KEY)  # the CLI processes read it too
    async with OpenAIMockServer() as llm:
        path = write(tmp_path, secret_workflow(f"{llm.base_url}/v1"))
        # three runs from the CLI, each waiting after its first LLM call: --json, human, --jsonl
        started = await run_cli("run", path, "--inputs", INPUTS, "--json", "--store", store_url)
        assert started.returncode == EXIT_WAITING, started.stderr
        run_id = json.loads(started.stdout)["run_id"]
        human = await run_cli("run", path, "--inputs", INPUTS, "--store", store_url)
        assert human.returncode == EXIT_WAITING, human.stderr
        lines = await run_cli("run", path, "--inputs", INPUTS, "--jsonl", "--store", store_url)
        assert lines.returncode == EXIT_WAITING, lines.stderr
        assert '"RunStarted"' in lines.stdout and '"***"' in lines.stdout
        assert llm.authorizations == [f"Bearer {CONSTANT_KEY}"] * 3

        # another process answers the first run's wait: the rest of its LLM calls get their real keys
        resumed = await run_cli(
            "runs", "resume", run_id, "--payload", '{"approved": true}', "--json", "--store", store_url
        )
        assert resumed.returncode == 0, resumed.stderr
        outputs = json.loads(resumed.stdout)["outputs"]
        assert outputs["input"].endswith('prompt is "llm_input: why?"')
        assert outputs["named"].endswith('prompt is "llm_named: why?"')
        assert llm.authorizations[3:] == [f"Bearer {INPUT_KEY}", f"Bearer {NAMED_KEY}"]

    shown = await run_cli("runs", "show", run_id, "--json", "--store", store_url)
    assert json.loads(shown.stdout)["report"]["inputs"] == {"question": "why?", "key": "***"}
    await run_cli("runs", "show", run_id, "--store", store_url)
    await run_cli("runs", "events", run_id, "--store", store_url)
    await run_cli("runs", "list", "--json", "--store", store_url)

    async with live_server(ServerSettings(), Engine(store=store_url)) as server:
        assert_no_secret("the SSE stream", await sse_text(server, run_id))
        assert_no_secret("the WebSocket stream", await socket_text(server, run_id))
        async with server.client() as client:
            report = await client.get(f"/api/v1/runs/{run_id}")
            assert report.status_code == 200
            assert_no_secret("the runs API", report.text)
            assert_no_secret("the runs listing", (await client.get("/api/v1/runs")).text)
        stored = stored_text(store_url)  # while the server holds the store open
    assert_no_secret("the store", stored)
    assert "***" in stored


async def test_a_python_run_shows_no_secret_and_a_new_engine_resumes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, NAMED_KEY)
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    async with OpenAIMockServer() as llm:
        workflow = secret_workflow(f"{llm.base_url}/v1")
        async with Engine(store=url) as first:
            heard: list[Any] = []
            first.bus.add_listener(heard.append)
            run = await first.run(workflow, {"question": "why?", "key": INPUT_KEY})
            assert run.status is Status.WAITING
            assert_no_secret("the report", json.dumps(run.report().to_json()))
            assert_no_secret("the bus's events", repr(heard))
            stored = await first.stored_report(run.id)
            assert stored is not None and stored.inputs == {"question": "why?", "key": "***"}
        async with Engine(store=url) as second:
            resumed = await second.resume(run.id, payload={"approved": True})
            await resumed.join()
            assert resumed.status is Status.SUCCEEDED, resumed.error
            assert_no_secret("the resumed run's report", json.dumps(resumed.report().to_json()))
    assert llm.authorizations == [f"Bearer {key}" for key in SECRETS]


async def test_a_missing_secret_fails_its_node_naming_node_field_and_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    async with OpenAIMockServer() as llm, Engine() as engine:
        answered = await engine.run(
            secret_workflow(f"{llm.base_url}/v1", wait=False), {"question": "why?", "key": INPUT_KEY}
        )
    assert answered.status is Status.FAILED
    assert answered.error == (
        f'Node "llm_named" input "apiKey": secret "{KEY_VARIABLE}" is not set: '
        f"set the environment variable {KEY_VARIABLE}"
    )
    assert llm.authorizations == [f"Bearer {CONSTANT_KEY}", f"Bearer {INPUT_KEY}"]


async def test_a_resume_with_another_key_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, NAMED_KEY)
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    async with OpenAIMockServer() as llm:
        path = write(tmp_path, secret_workflow(f"{llm.base_url}/v1"))
        started = await run_cli("run", path, "--inputs", INPUTS, "--json", "--store", url)
        assert started.returncode == EXIT_WAITING, started.stderr
        run_id = json.loads(started.stdout)["run_id"]
        monkeypatch.setenv("FLOWLOOM_SECRET_KEY", "k" * 43 + "=")
        refused = await run_cli("runs", "resume", run_id, "--payload", '{"approved": true}', "--store", url)
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr
    assert "cannot decrypt the run's secrets with the key from $FLOWLOOM_SECRET_KEY" in refused.stderr


async def test_the_key_file_is_made_once_with_mode_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("FLOWLOOM_SECRET_KEY", raising=False)
    from flowloom._defaults import secret_box

    first = secret_box()
    key_file = tmp_path / "data" / "flowloom" / "secret.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    sealed = first.seal({"inputs": {"key": INPUT_KEY}})
    assert INPUT_KEY not in sealed
    assert secret_box().open(sealed) == {"inputs": {"key": INPUT_KEY}}  # the same key, read back


async def test_http_headers_that_are_secrets_are_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    from flowloom.testing import HttpEchoServer

    monkeypatch.setenv(KEY_VARIABLE, NAMED_KEY)
    async with HttpEchoServer() as echo:
        workflow = _http_workflow(echo.base_url)
        async with Engine(store="sqlite:///:memory:") as engine:
            run = await engine.run(workflow, {})
            assert run.status is Status.SUCCEEDED, run.error
            report = json.dumps(run.report().to_json())
            stored = await engine.stored_report(run.id)
            assert stored is not None
            assert engine.store is not None
            events = await engine.store.get_events(run.id)
    received = echo.requests[0]
    assert received.headers["authorization"] == f"Bearer {CONSTANT_KEY}"
    assert received.headers["x-api-key"] == NAMED_KEY
    assert received.headers["accept"] == "text/plain"
    assert_no_secret("the report", report)
    assert_no_secret("the stored report", json.dumps(stored.to_json()))
    assert_no_secret("the events", repr(events))
    headers = run.report().reports["http_0"].snapshots[0].inputs["headers"]
    assert headers == {"Authorization": "***", "X-Api-Key": "***", "Accept": "text/plain"}


def _http_workflow(base_url: str) -> dict[str, Any]:
    from _workflows import chain, node, start

    headers = {
        "Authorization": {"type": "constant", "content": f"Bearer {CONSTANT_KEY}"},
        "X-Api-Key": {"type": "secret", "content": KEY_VARIABLE},
        "Accept": {"type": "constant", "content": "text/plain"},
    }
    http = node(
        "http_0",
        "http",
        api={"method": "GET", "url": {"type": "constant", "content": f"{base_url}/hello"}},
        headers={"type": "object", "properties": {name: {"type": "string"} for name in headers}},
        headersValues=headers,
        body={"bodyType": "none"},
        timeout={"timeout": 10000, "retryTimes": 1},
        outputs={"type": "object", "properties": {"statusCode": {"type": "integer"}}},
    )
    return chain(start(), http, node("end_0", "end"))


async def test_the_access_log_hides_the_token_of_stream_urls() -> None:
    import logging

    from _server import wait_until
    from flowloom.server import FlowloomServer, create_app

    token = "tok-5e2d9a41c7"
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    collect = Collect()
    loggers = [logging.getLogger(name) for name in ("uvicorn.access", "uvicorn.error")]
    engine = Engine()
    app = create_app(engine, ServerSettings(token=token))
    server = FlowloomServer(app, host="127.0.0.1", port=0, log_level="info", access_log=True)
    for logger in loggers:
        logger.addHandler(collect)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(server.serve)
            await wait_until(lambda: server.started, 10.0)
            base = f"127.0.0.1:{server.port}"
            async with websockets.connect(f"ws://{base}/api/v1/events?token={token}") as socket:
                await socket.close()
            async with httpx.AsyncClient(base_url=f"http://{base}") as client:
                missing = await client.get(f"/api/v1/runs/nope/events?token={token}")
                assert missing.status_code == 404
            server.should_exit = True
    finally:
        for logger in loggers:
            logger.removeHandler(collect)
    websocket_lines = [line for line in lines if "WebSocket" in line and "/api/v1/events" in line]
    access_lines = [line for line in lines if "/api/v1/runs/nope/events" in line]
    assert websocket_lines and access_lines, lines
    assert all("token=***" in line for line in websocket_lines + access_lines), lines
    assert not [line for line in lines if token in line]


async def test_a_rerun_from_the_server_gets_the_real_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, NAMED_KEY)
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    async with OpenAIMockServer() as llm:
        async with Engine(store=url) as engine:
            first = await engine.run(
                secret_workflow(f"{llm.base_url}/v1", wait=False), {"question": "why?", "key": INPUT_KEY}
            )
            assert first.status is Status.SUCCEEDED, first.error
        async with live_server(ServerSettings(), Engine(store=url)) as server, server.client() as client:
            rerun = await client.post(f"/api/v1/runs/{first.id}/rerun")
            assert rerun.status_code == 201, rerun.text
            second = rerun.json()["id"]
            with anyio.fail_after(30):
                assert_no_secret("the rerun's events", await sse_text(server, second))  # ends with the run
            report = await client.get(f"/api/v1/runs/{second}")
            assert report.json()["status"] == "succeeded"
            assert_no_secret("the rerun's report", report.text)
    assert llm.authorizations == [f"Bearer {key}" for key in SECRETS] * 2
