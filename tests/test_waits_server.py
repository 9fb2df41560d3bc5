"""Waits through ``flowloom serve`` (a real server process), on SQLite and PostgreSQL: a timed wait started
by a CLI process that has exited completes by itself; the flowgram ``wait`` node is started and answered
through the runs API."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from _stores import postgres_server, sql_store_url  # noqa: F401
from _waits import approval, timer
from test_cli import FLOWLOOM, flowloom, write

TIMED_WAIT_S = 2.0


@pytest.fixture
def server(store_url: str) -> Iterator[httpx.Client]:
    """``flowloom serve`` on a free port with the test's store, as a client of it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    process = subprocess.Popen(
        [str(FLOWLOOM), "serve", "--port", str(port), "--store", store_url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, process.communicate()[1]
                try:
                    if client.get("/info").status_code == 200:
                        break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "the server did not start"
                    time.sleep(0.05)
            yield client
    finally:
        process.terminate()
        process.communicate(timeout=30)


def until_status(client: httpx.Client, run_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        detail = client.get(f"/api/v1/runs/{run_id}").json()
        if detail["status"] == status:
            return detail  # type: ignore[no-any-return]
        assert detail["status"] in ("processing", "waiting", "succeeded"), detail
        assert time.monotonic() < deadline, f"run {run_id} is still {detail['status']}"
        time.sleep(0.1)


def test_a_timed_wait_completes_under_serve_after_its_cli_exited(
    tmp_path: Path, store_url: str, server: httpx.Client
) -> None:
    started = flowloom("run", write(tmp_path, timer(TIMED_WAIT_S)), "--json", "--store", store_url)
    assert started.returncode == 3, started.stderr  # waiting; the CLI process has exited
    result = json.loads(started.stdout)
    assert result["waiting"]["reason"] == "time" and result["waiting"]["until"] is not None
    run_id = result["run_id"]
    detail = until_status(server, run_id, "succeeded")
    assert detail["report"]["outputs"] == {"timedOut": True}
    assert [(w["key"], w["status"], w["payload"]) for w in detail["waits"]] == [
        ("sleep", "answered", {"timedOut": True})
    ]
    shown = json.loads(flowloom("runs", "show", run_id, "--json", "--store", store_url).stdout)
    assert shown["run"]["status"] == "succeeded" and shown["report"]["outputs"] == {"timedOut": True}


def test_the_wait_node_through_the_runs_api(store_url: str, server: httpx.Client) -> None:
    created = server.post("/api/v1/runs", json={"workflow": approval(), "inputs": {"who": "Ada"}})
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    detail = until_status(server, run_id, "waiting")
    assert [(w["key"], w["prompt"], w["choices"], w["status"]) for w in detail["waits"]] == [
        ("approve", "Approve Ada?", ["yes", "no"], "open")
    ]
    listed = server.get("/api/v1/runs", params={"status": "waiting"}).json()
    assert [run["id"] for run in listed["runs"]] == [run_id]

    bad = server.post(f"/api/v1/runs/{run_id}/resume", json={"key": "approve"})
    assert bad.status_code == 400 and "payload" in bad.json()["message"]
    bad_key = server.post(f"/api/v1/runs/{run_id}/resume", json={"payload": 1, "key": 7})
    assert bad_key.status_code == 400 and '"key" must be a string' in bad_key.json()["message"]
    missing = server.post("/api/v1/runs/nope/resume", json={"payload": 1})
    assert missing.status_code == 404 and "nope" in missing.json()["message"]
    stale = server.post(f"/api/v1/runs/{run_id}/resume", json={"payload": 1, "key": "other"})
    assert stale.status_code == 409 and "no wait with key 'other'" in stale.json()["message"]

    answer = {"approved": True, "note": "go"}
    resumed = server.post(f"/api/v1/runs/{run_id}/resume", json={"payload": answer, "key": "approve"})
    assert resumed.status_code == 200, resumed.text
    detail = until_status(server, run_id, "succeeded")
    assert detail["report"]["outputs"] == answer
    assert detail["waits"][0]["status"] == "answered" and detail["waits"][0]["payload"] == answer
    again = server.post(f"/api/v1/runs/{run_id}/resume", json={"payload": answer})
    assert again.status_code == 409 and "not waiting" in again.json()["message"]
