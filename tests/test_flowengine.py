"""flowengine workflows through the Python API and the CLI's ``init``: format detection, config checked
before the run, the engine's ``proceed`` policy and node deadlines, shell processes that leave nothing
behind. (The conformance corpus, ``test_flowengine_conformance.py``, covers the CLI contract case by case.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

import flowloom
from flowloom.ir import InvalidWorkflowError, NodeLog, Status

FLOWLOOM = Path(sys.executable).parent / "flowloom"


def shell(node_id: str, script: str, **config: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "node_type": "shell.exec",
        "config": {"command": "sh", "args": ["-c", script], **config},
    }


def link(source: str, target: str, from_port: str = "stdout", to_port: str = "stdin") -> dict[str, str]:
    return {"from_node": source, "from_port": from_port, "to_node": target, "to_port": to_port}


async def run(document: dict[str, Any], inputs: dict[str, Any] | None = None) -> flowloom.Run:
    engine = flowloom.Engine()
    async with engine:
        return await engine.run(engine.load(document), inputs or {})


def test_detected_before_flowgram_and_tagged_config_decoded() -> None:
    document = {
        "nodes": [
            {
                "id": "a",
                "node_type": "shell.exec",
                "config": {
                    "command": {"type": "String", "value": "echo"},
                    "args": {"type": "Array", "value": [{"type": "String", "value": "hi"}]},
                },
            }
        ],
    }
    finished = anyio.run(run, document)
    assert finished.status is Status.SUCCEEDED
    assert finished.node_state("a")[2] == {
        "output": "hi",
        "stdout": "hi",
        "stderr": "",
        "exit_code": 0,
        "success": True,
    }


@pytest.mark.parametrize(
    ("node", "fragments"),
    [
        ({"id": "s", "node_type": "shell.exec", "config": {}}, ['node "s"', '"command" is required']),
        (
            {"id": "s", "node_type": "shell.exec", "config": {"command": 3}},
            ['node "s"', '"command" must be string'],
        ),
        ({"id": "h", "node_type": "http.request", "config": {"method": "PATCH"}}, ['node "h"', "PATCH"]),
        ({"id": "x", "node_type": "no.such"}, ['node "x"', 'unknown node type "no.such"']),
        (
            {"id": "r", "node_type": "debug.log", "retry_policy": {"max_attempts": 0}},
            ['node "r"', "max_attempts"],
        ),
    ],
)
def test_bad_config_is_refused_before_anything_runs(node: dict[str, Any], fragments: list[str]) -> None:
    with pytest.raises(InvalidWorkflowError) as caught:
        flowloom.Engine().load({"nodes": [node], "connections": []})
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_continue_on_error_runs_dependents_without_the_failed_outputs() -> None:
    document = {
        "nodes": [shell("a", "echo partial; exit 2"), shell("b", "cat; echo done")],
        "connections": [link("a", "b")],
        "settings": {"on_error": "ContinueOnError"},
    }
    finished = anyio.run(run, document)
    assert finished.status is Status.SUCCEEDED
    assert finished.node_state("a")[0] is Status.FAILED
    assert finished.node_state("b")[2]["stdout"] == "done"  # type: ignore[index]


def test_deadline_covers_every_attempt_and_names_its_milliseconds() -> None:
    node = shell("a", "exit 1")
    node["retry_policy"] = {"max_attempts": 10, "delay_ms": 100, "backoff_multiplier": 1.0}
    finished = anyio.run(run, {"nodes": [node], "settings": {"max_execution_time_ms": 450}})
    status, attempts, _outputs, error = finished.node_state("a")
    assert (status, error) == (Status.FAILED, "Timeout after 450ms")
    assert 1 < attempts < 10


def test_cancel_kills_the_whole_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "late.txt"
    document = {
        "nodes": [shell("a", f"(sleep 1; echo late > {marker}) & echo started; sleep 30", stream_output=True)]
    }

    async def main() -> flowloom.Run:
        engine = flowloom.Engine()
        started = anyio.Event()
        engine.bus.add_listener(lambda e: started.set() if isinstance(e, NodeLog) else None)
        async with engine:
            handle = engine.start(engine.load(document), {})
            await started.wait()
            handle.cancel()
            await handle.join()
            await anyio.sleep(1.5)  # the background child would have written by now
            return handle

    finished = anyio.run(main)
    assert finished.status is Status.CANCELED
    assert not marker.exists()


@pytest.mark.parametrize("fmt", ["flowengine", "flowgram"])
def test_init_writes_an_example_that_runs(tmp_path: Path, fmt: str) -> None:
    target = tmp_path / "example.json"
    env = {**os.environ, "FLOWLOOM_DATABASE_URL": f"sqlite:///{tmp_path / 'runs.db'}"}
    made = subprocess.run(
        [FLOWLOOM, "init", "--format", fmt, "-o", target],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    again = subprocess.run(
        [FLOWLOOM, "init", "-o", target], capture_output=True, text=True, env=env, check=False
    )
    assert again.returncode == 2 and "exists" in again.stderr
    ran = subprocess.run(
        [FLOWLOOM, "run", target, "--json"], capture_output=True, text=True, env=env, check=False
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["status"] == "succeeded"


def test_result_cache_fingerprints_type_config_and_inputs_across_engines(tmp_path: Path) -> None:
    """flowpersist's promise: a node with ``cache`` reuses an earlier result of the same type, config and
    inputs (for a root node, the run's inputs), from the store, so another engine on it reuses it too."""
    counter = tmp_path / "count"
    node = shell("a", f"echo ran >> {counter}; cat", cache={"ttl_secs": 3600})
    node["cache"] = node["config"].pop("cache")
    document = {"nodes": [node], "connections": []}
    store = f"sqlite:///{tmp_path / 'runs.db'}"

    async def once(stdin: str) -> tuple[str, bool]:
        async with flowloom.Engine(store=store) as engine:
            finished = await engine.run(engine.load(document), {"stdin": stdin})
            records = await engine.store.get_nodes(finished.id)  # type: ignore[union-attr]
        return finished.node_state("a")[2]["stdout"], records[0].cached  # type: ignore[index]

    assert anyio.run(once, "hello") == ("hello", False)
    assert anyio.run(once, "hello") == ("hello", True)  # another engine, same store: a hit
    assert anyio.run(once, "other") == ("other", False)  # the run's inputs are a root node's inputs
    assert counter.read_text().count("ran") == 2


@pytest.mark.parametrize(
    "cache", [{"ttl_secs": -1}, {"ttl": 5}, "yes", {"ttl_secs": "1h"}], ids=["negative", "key", "str", "type"]
)
def test_a_bad_cache_setting_names_the_node(cache: Any) -> None:
    node = shell("a", "true")
    node["cache"] = cache
    with pytest.raises(InvalidWorkflowError, match=r'node "a": "cache" must be true, false or'):
        flowloom.Engine().load({"nodes": [node], "connections": []})


def test_retry_workflow_starts_the_run_over_in_the_engine(tmp_path: Path) -> None:
    """RetryWorkflow is the engine's, for every front door: one run that starts over (RunRetrying), its
    node records those of the last attempt."""
    counter = tmp_path / "runs"
    count = shell(
        "count", f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; echo $n"
    )
    check = shell("check", 'read n; [ "$n" -ge 3 ] && echo "ok on run $n"')
    document = {
        "nodes": [count, check],
        "connections": [link("count", "check")],
        "settings": {"on_error": {"RetryWorkflow": {"max_attempts": 5}}},
    }
    events: list[Any] = []

    async def main() -> tuple[flowloom.Run, list[str]]:
        async with flowloom.Engine(store=f"sqlite:///{tmp_path / 'runs.db'}") as engine:
            engine.bus.add_listener(events.append)
            finished = await engine.run(engine.load(document), {})
            rows = await engine.store.get_nodes(finished.id)  # type: ignore[union-attr]
        return finished, [f"{row.node_id}:{row.status}" for row in rows]

    finished, rows = anyio.run(main)
    assert finished.status is Status.SUCCEEDED
    assert finished.node_state("check")[2]["stdout"] == "ok on run 3"  # type: ignore[index]
    assert sorted(rows) == ["check:succeeded", "count:succeeded"]
    kinds = [type(event).__name__ for event in events if event.run_id == finished.id]
    assert kinds.count("RunStarted") == 1 and kinds.count("RunFinished") == 1
    retries = [event for event in events if type(event).__name__ == "RunRetrying"]
    assert [(r.attempt, r.max_attempts) for r in retries] == [(1, 5), (2, 5)]
    assert "Command exited with code 1" in (retries[0].error or "")
