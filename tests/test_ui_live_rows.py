"""Live rows across processes (issue 20): the every-run WebSocket follows the store, so a run that another
process executes on the same SQLite file streams its run events to this server's clients as it goes (the
client polls nothing); ``?types=`` keeps the stream to run events."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
import websockets

import flowloom
from _server import live_server
from _waits import approval
from flowloom.server import ServerSettings
from flowloom.stores import SqlStore

pytestmark = pytest.mark.anyio

RUN_EVENTS = "RunStarted,RunFinished,RunWaiting,RunResumed"

# another process: an engine of its own on the same store starts a run, which goes on until it waits for an
# answer (it is then in the store only), and prints its id
OTHER_PROCESS = """
import asyncio, json, sys
import flowloom

async def main(url, workflow):
    async with flowloom.Engine(store=url) as engine:
        run = engine.start(json.loads(workflow), {"who": "Ada"})
        print(run.id, flush=True)
        await run.join()
        print(run.status, flush=True)

asyncio.run(main(*sys.argv[1:]))
"""


async def next_message(socket: Any) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await socket.recv())
    return message


async def test_a_run_of_another_process_streams_live_on_the_every_run_socket(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    async with live_server(ServerSettings(), flowloom.Engine(store=SqlStore(url))) as server:
        async with websockets.connect(f"{server.ws_url}/api/v1/events?types={RUN_EVENTS}") as socket:
            await anyio.sleep(0.1)  # subscribed before the other process starts its run
            command = [sys.executable, "-c", OTHER_PROCESS, url, json.dumps(approval())]
            with anyio.fail_after(30):
                done = await anyio.run_process(command)
                run_id, status = done.stdout.decode().split()
                assert status == "waiting"
                started, waiting = await next_message(socket), await next_message(socket)
                assert [(m["run_id"], m["type"]) for m in (started, waiting)] == [
                    (run_id, "RunStarted"),
                    (run_id, "RunWaiting"),
                ]
                assert waiting["data"]["waits"][0]["prompt"] == "Approve Ada?"
                async with server.client() as client:
                    live = await client.get(f"/api/v1/runs/{run_id}/live")
                    assert live.status_code == 404  # not this server's run: it came from the store
                    answer = {"payload": {"approved": True, "note": "ok"}}
                    resumed = await client.post(f"/api/v1/runs/{run_id}/resume", json=answer)
                    assert resumed.status_code == 200, resumed.text
                after = [await next_message(socket)]  # now this server executes it: its bus and the store
                while after[-1]["type"] != "RunFinished":
                    after.append(await next_message(socket))
                assert [m["type"] for m in after] == ["RunResumed", "RunStarted", "RunFinished"]
                assert {m["run_id"] for m in after} == {run_id} and after[-1]["data"]["status"] == "succeeded"
                seqs = [m["seq"] for m in (started, waiting, *after)]
                assert seqs == sorted(set(seqs))  # each once, in order
