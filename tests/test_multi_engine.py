"""Several engines, one store: two ``flowloom serve`` processes on one PostgreSQL database serve the same
runs. A run started through one is listed, followed, canceled and answered through the other; the runs of a
server killed with SIGKILL are resumed by the survivor and recorded once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from _postgres import PG_TIMEOUT, create_database, drop_database, postgres_server  # noqa: F401
from _waits import approval
from _workflows import chain, end, node, ref, start
from test_cli import FLOWLOOM

pytestmark = PG_TIMEOUT

LEASE_TTL_S = 2.0
_DEADLINE_S = 60.0  # how long a test waits for what must happen (never reached when it works)


class Hold:
    """A local HTTP endpoint that answers each request only once released: a node that calls it stays
    in flight as long as the test wants. Counts the requests it got."""

    def __init__(self) -> None:
        self.hits = 0
        self.released = threading.Event()
        hold = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hold.hits += 1
                hold.released.wait(_DEADLINE_S)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the caller is gone (killed, or canceled)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hold"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


def held(url: str) -> dict[str, Any]:
    """start -> http GET ``url`` (held until released) -> end(code)."""
    call = node(
        "call",
        "http",
        api={"method": "GET", "url": {"type": "template", "content": url}},
        body={"bodyType": "none"},
        timeout={"timeout": 120_000, "retryTimes": 0},
        outputs={"type": "object", "properties": {"statusCode": {"type": "integer"}}},
    )
    return chain(start(), call, end(code=ref("call", "statusCode")))


@dataclass
class Server:
    process: subprocess.Popen[str]
    client: httpx.Client


@contextmanager
def serve(store_url: str) -> Iterator[Server]:
    """``flowloom serve`` on a free port with ``store_url`` and short leases."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    process = subprocess.Popen(
        [str(FLOWLOOM), "serve", "--port", str(port), "--store", store_url, "--lease-ttl", str(LEASE_TTL_S)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            until(lambda: _up(process, client), "the server started")
            yield Server(process, client)
    finally:
        if process.poll() is None:
            process.terminate()
        process.communicate(timeout=30)


def _up(process: subprocess.Popen[str], client: httpx.Client) -> bool:
    assert process.poll() is None, process.communicate()[1]
    try:
        return client.get("/info").status_code == 200
    except httpx.TransportError:
        return False


def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + _DEADLINE_S
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


@pytest.fixture
def store_url(postgres_url: str) -> Iterator[str]:
    url = create_database(postgres_url)
    yield url
    drop_database(url)


@pytest.fixture
def hold() -> Iterator[Hold]:
    endpoint = Hold()
    yield endpoint
    endpoint.close()


def start_run(server: Server, workflow: dict[str, Any], inputs: dict[str, Any] | None = None) -> str:
    response = server.client.post("/api/v1/runs", json={"workflow": workflow, "inputs": inputs or {}})
    assert response.status_code == 201, response.text
    run_id: str = response.json()["id"]
    return run_id


def status(server: Server, run_id: str) -> str:
    detail: str = server.client.get(f"/api/v1/runs/{run_id}").json()["status"]
    return detail


def sse_events(server: Server, run_id: str) -> list[str]:
    """A run's events as the server streams them, until the run ends: ``Type`` or ``Type node_id``."""
    events = []
    with server.client.stream("GET", f"/api/v1/runs/{run_id}/events", timeout=_DEADLINE_S) as response:
        assert response.status_code == 200
        kind = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                node_id = json.loads(line.removeprefix("data: ")).get("node_id")
                events.append(f"{kind} {node_id}" if node_id else kind)
    return events


def test_a_run_started_through_one_server_is_listed_followed_and_canceled_through_the_other(
    store_url: str, hold: Hold
) -> None:
    with serve(store_url) as a, serve(store_url) as b:
        run_id = start_run(a, held(hold.url))
        until(lambda: hold.hits == 1, "the run's node is in flight on server a")
        listed = b.client.get("/api/v1/runs", params={"status": "processing"}).json()
        assert [run["id"] for run in listed["runs"]] == [run_id]
        canceled = b.client.post(f"/api/v1/runs/{run_id}/cancel")
        assert canceled.status_code == 200 and canceled.json()["canceled"] is True
        until(lambda: status(a, run_id) == "canceled", "server a stopped the run")
        assert sse_events(b, run_id)[-1] == "RunFinished"
        assert hold.hits == 1

        # a run that goes to its end on b is followed through a from its first event
        hold.released.set()
        other = start_run(b, held(hold.url))
        types = sse_events(a, other)
        assert types[0] == "RunStarted" and types[-1] == "RunFinished"
        detail = a.client.get(f"/api/v1/runs/{other}").json()
        assert detail["status"] == "succeeded" and detail["report"]["outputs"] == {"code": 200}

        # a run refused at once (inputs that do not fit) is known to the other server when POST answers
        refused = start_run(b, approval(), {"who": 5})
        assert status(a, refused) == "failed"


def test_a_waiting_run_is_answered_through_either_server(store_url: str) -> None:
    with serve(store_url) as a, serve(store_url) as b:
        run_id = start_run(a, approval(), {"who": "Ada"})
        until(lambda: status(b, run_id) == "waiting", "the run waits")
        answered = b.client.post(f"/api/v1/runs/{run_id}/resume", json={"payload": {"approved": True}})
        assert answered.status_code == 200, answered.text
        again = a.client.post(f"/api/v1/runs/{run_id}/resume", json={"payload": {"approved": False}})
        assert again.status_code == 409  # one answer wins
        until(lambda: status(a, run_id) == "succeeded", "the run ended")
        assert a.client.get(f"/api/v1/runs/{run_id}").json()["report"]["outputs"] == {"approved": True}


def test_the_runs_of_a_killed_server_are_resumed_by_the_survivor(store_url: str, hold: Hold) -> None:
    with serve(store_url) as a, serve(store_url) as b:
        run_id = start_run(a, held(hold.url))
        until(lambda: hold.hits == 1, "the run's node is in flight on server a")
        os.kill(a.process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        until(lambda: hold.hits == 2, "server b resumed the run: its node runs again")
        resumed_after = time.monotonic() - killed_at
        hold.released.set()
        until(lambda: status(b, run_id) == "succeeded", "the run ended on server b")
        detail = b.client.get(f"/api/v1/runs/{run_id}").json()
        assert detail["report"]["outputs"] == {"code": 200}
        assert len(detail["report"]["reports"]["call"]["snapshots"]) == 1  # recorded once
        events = sse_events(b, run_id)
        assert events.count("RunStarted") == 2  # started on a, resumed on b
        assert events.count("NodeSucceeded call") == events.count("RunFinished") == 1
    # the survivor looks for orphans every lease period; a dead owner on this host is known at once
    assert resumed_after < 2 * LEASE_TTL_S + 5, resumed_after
