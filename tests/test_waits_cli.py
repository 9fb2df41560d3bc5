"""Waits across processes with the ``flowloom`` command, on SQLite and PostgreSQL: a run waits (exit 3) and
its process exits; another process answers it; stale keys and second answers are refused; a process killed
while it holds a resumed run loses nothing."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from _stores import postgres_server, sql_store_url  # noqa: F401
from _waits import approval, approval_then_spin
from test_cli import FLOWLOOM, assert_one_line_error, flowloom, write

EXIT_WAITING = 3
BUSY_S = 10.0  # how long the node after the answer stays busy: the process is killed during it


def start_waiting(tmp_path: Path, store_url: str, workflow: dict[str, Any]) -> dict[str, Any]:
    """``flowloom run --json`` of a workflow that waits: exit 3 and the waiting payload."""
    path = write(tmp_path, workflow)
    result = flowloom("run", path, "--inputs", '{"who": "Ada"}', "--json", "--store", store_url)
    assert result.returncode == EXIT_WAITING, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def resume(store_url: str, run_id: str, *args: str) -> subprocess.CompletedProcess[str]:
    return flowloom("runs", "resume", run_id, *args, "--store", store_url)


def test_a_waiting_run_is_answered_from_another_process(tmp_path: Path, store_url: str) -> None:
    started = start_waiting(tmp_path, store_url, approval())
    run_id = started["run_id"]
    assert started["status"] == "waiting"
    assert started["waiting"] == {
        "key": "approve",
        "reason": "input",
        "prompt": "Approve Ada?",
        "choices": ["yes", "no"],
        "until": None,
    }
    listed = flowloom("runs", "list", "--status", "waiting", "--json", "--store", store_url)
    assert [run["id"] for run in json.loads(listed.stdout)] == [run_id]

    plain = flowloom(
        "run", write(tmp_path, approval(), "again.json"), "--inputs", '{"who": "Bo"}', "--store", store_url
    )
    assert plain.returncode == EXIT_WAITING
    assert "waiting" in plain.stdout and "Approve Bo?" in plain.stdout and "--payload" in plain.stdout

    stale = resume(store_url, run_id, "--payload", '{"approved": true}', "--key", "nope")
    assert_one_line_error(stale, "no wait with key 'nope'", "open: 'approve'")
    assert resume(store_url, run_id).returncode == 2  # waiting: an answer needs a payload
    bad = resume(store_url, run_id, "--payload", "{nope")
    assert_one_line_error(bad, "--payload is not valid JSON")

    answered = resume(store_url, run_id, "--payload", '{"approved": true, "note": "fine"}', "--json")
    assert answered.returncode == 0, answered.stderr
    result = json.loads(answered.stdout)
    assert (result["run_id"], result["status"], result["waiting"]) == (run_id, "succeeded", None)
    assert result["outputs"] == {"approved": True, "note": "fine"}

    again = resume(store_url, run_id, "--payload", '{"approved": false}', "--key", "approve")
    assert_one_line_error(again, f"run {run_id} is not waiting: it has ended (succeeded)")
    shown = json.loads(flowloom("runs", "show", run_id, "--json", "--store", store_url).stdout)
    assert [(w["key"], w["status"], w["payload"]) for w in shown["waits"]] == [
        ("approve", "answered", {"approved": True, "note": "fine"})
    ]


def test_two_concurrent_answers_exactly_one_wins(tmp_path: Path, store_url: str) -> None:
    run_id = start_waiting(tmp_path, store_url, approval())["run_id"]
    answers = [
        subprocess.Popen(
            [
                str(FLOWLOOM),
                "runs",
                "resume",
                run_id,
                "--payload",
                json.dumps({"note": who}),
                "--json",
                "--store",
                store_url,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("first", "second")
    ]
    outcomes = [(process.wait(timeout=60), *process.communicate()) for process in answers]
    codes = sorted(code for code, _out, _err in outcomes)
    assert codes == [0, 2], outcomes
    [(_, won, _)] = [outcome for outcome in outcomes if outcome[0] == 0]
    [(_, _, refused)] = [outcome for outcome in outcomes if outcome[0] == 2]
    assert f"run {run_id} is not waiting" in refused
    winner = json.loads(won)["outputs"]["note"]
    shown = json.loads(flowloom("runs", "show", run_id, "--json", "--store", store_url).stdout)
    assert shown["run"]["status"] == "succeeded"
    assert [w["payload"] for w in shown["waits"]] == [{"note": winner}]


def test_a_killed_resumed_run_is_resumed_again_without_losing_or_repeating(
    tmp_path: Path, store_url: str
) -> None:
    run_id = start_waiting(tmp_path, store_url, approval_then_spin())["run_id"]
    answer = {"approved": True, "spinUntil": int((time.time() + BUSY_S) * 1000)}
    holder = subprocess.Popen(
        [
            str(FLOWLOOM),
            "runs",
            "resume",
            run_id,
            "--payload",
            json.dumps(answer),
            "--json",
            "--store",
            store_url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _approved_recorded(store_url, run_id):  # the answer is in; the busy node runs
            assert holder.poll() is None, holder.communicate()
            assert time.monotonic() < deadline, "the resumed run made no progress"
            time.sleep(0.05)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate()
    shown = json.loads(flowloom("runs", "show", run_id, "--json", "--store", store_url).stdout)
    assert shown["run"]["status"] == "processing"  # left by a dead process
    assert resume(store_url, run_id, "--payload", "1").returncode == 2  # answered already: not waiting

    finished = resume(store_url, run_id, "--json")
    assert finished.returncode == 0, finished.stderr
    result = json.loads(finished.stdout)
    assert (result["status"], result["outputs"]) == ("succeeded", {"approved": True})
    shown = json.loads(flowloom("runs", "show", run_id, "--json", "--store", store_url).stdout)
    events = _event_types(store_url, run_id)
    assert events.count("RunResumed") == 1 and events.count("RunWaiting") == 1
    assert _succeeded_count(store_url, run_id, "approve") == 1  # recorded once, not run again
    assert [w["payload"] for w in shown["waits"]] == [answer]


def _approved_recorded(store_url: str, run_id: str) -> bool:
    import anyio

    from flowloom.stores import SqlStore

    async def read() -> bool:
        async with SqlStore(store_url) as store:
            nodes = {node.node_id: node.status for node in await store.get_nodes(run_id)}
            return nodes.get("approve") == "succeeded"

    return anyio.run(read)


def _event_types(store_url: str, run_id: str) -> list[str]:
    import anyio

    from flowloom.stores import SqlStore

    async def read() -> list[str]:
        async with SqlStore(store_url) as store:
            return [event.type for event in await store.get_events(run_id)]

    return anyio.run(read)


def _succeeded_count(store_url: str, run_id: str, node_id: str) -> int:
    import anyio

    from flowloom.stores import SqlStore

    async def read() -> int:
        async with SqlStore(store_url) as store:
            return sum(
                1
                for event in await store.get_events(run_id)
                if event.type == "NodeSucceeded" and event.data["node_id"] == node_id
            )

    return anyio.run(read)
