"""A run's events from the command line: ``flowloom run --jsonl`` prints them as they are recorded, then the
``--json`` object; ``flowloom runs events ID [--follow]`` prints any run's, from any process. Both read the
store's ledger, so their sequence numbers are the store's."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from _workflows import double_x
from test_cli import FLOWLOOM, assert_one_line_error, flowloom, write
from test_cli_runs import processing_run, slow_chain, start_in_background, wait_until

NODES = 6


def parse_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def assert_one_whole_run(events: list[dict[str, Any]], run_id: str, nodes: int) -> None:
    """The events of a finished chain of ``nodes`` spin nodes, each exactly once, in the ledger's order."""
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert all(set(e) == {"seq", "run_id", "type", "data"} and e["run_id"] == run_id for e in events)
    assert events[0]["type"] == "RunStarted" and events[-1]["type"] == "RunFinished"
    assert events[-1]["data"]["status"] == "succeeded"
    succeeded = [e["data"]["node_id"] for e in events if e["type"] == "NodeSucceeded"]
    assert succeeded == ["start_0", *[f"spin_{i}" for i in range(nodes)], "end_0"]


def test_run_jsonl_prints_each_event_as_it_is_recorded_then_the_result(tmp_path: Path) -> None:
    path = write(tmp_path, slow_chain(NODES))
    command = [str(FLOWLOOM), "run", str(path), "--inputs", '{"x": 0}', "--jsonl"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None and process.stderr is not None
        first = json.loads(process.stdout.readline())
        assert process.poll() is None  # the first event came while the run was going on
        rest = process.stdout.read()  # (not communicate(): it would skip what readline buffered)
        err = process.stderr.read()
        assert process.wait(timeout=60) == 0, err
    *events, result = [first, *parse_lines(rest)]
    assert result["status"] == "succeeded" and result["outputs"] == {"y": NODES}
    run_id = result["report"]["id"]
    assert_one_whole_run(events, run_id, NODES)

    recorded = flowloom("runs", "events", run_id, "--json")  # the same lines, read back from the store
    assert recorded.returncode == 0, recorded.stderr
    assert parse_lines(recorded.stdout) == events
    later = flowloom("runs", "events", run_id, "--json", "--after", "3")
    assert parse_lines(later.stdout) == events[3:]
    text = flowloom("runs", "events", run_id)
    lines = text.stdout.splitlines()
    assert len(lines) == len(events)
    assert "RunFinished" in lines[-1] and "succeeded" in lines[-1] and "NodeStarted     spin_0" in lines[3]


def test_run_jsonl_without_a_store_and_with_bad_options(tmp_path: Path) -> None:
    path = write(tmp_path, double_x())
    result = flowloom("run", path, "--inputs", '{"x": 4}', "--jsonl", "--no-store")
    assert result.returncode == 0, result.stderr
    *events, final = parse_lines(result.stdout)
    assert [e["type"] for e in events] == ["RunStarted"] + ["NodeStarted", "NodeSucceeded"] * 3 + [
        "RunFinished"
    ]
    assert [e["seq"] for e in events] == list(range(1, 9))
    assert final["outputs"] == {"y": 8}
    assert flowloom("runs", "list", "--json").stdout.strip() == "[]"  # nothing recorded

    failed = flowloom("run", path, "--inputs", '{"x": "no"}', "--jsonl")
    assert failed.returncode == 2
    (rejected,) = parse_lines(failed.stdout)  # no events: the run never started; its result object
    assert rejected["status"] == "failed"
    assert_one_line_error(flowloom("run", path, "--json", "--jsonl"), "choose one")


def test_runs_events_follows_a_run_in_another_process(tmp_path: Path) -> None:
    path = write(tmp_path, slow_chain(NODES))
    process = start_in_background(path)
    run_id = wait_until(lambda: processing_run(1), "the run to start")
    followed = flowloom("runs", "events", run_id, "--follow", "--json")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert followed.returncode == 0, followed.stderr
    events = parse_lines(followed.stdout)
    assert_one_whole_run(events, run_id, NODES)
    assert parse_lines(flowloom("runs", "events", run_id, "--json").stdout) == events
    assert json.loads(out)["status"] == "succeeded"

    finished = flowloom("runs", "events", run_id, "--follow", "--json", "--after", str(len(events)))
    assert (finished.returncode, finished.stdout) == (0, "")  # a run that ended: nothing more to wait for


def test_runs_events_of_an_unknown_run() -> None:
    assert_one_line_error(flowloom("runs", "events", "nope"), "no run 'nope'")
    assert_one_line_error(flowloom("runs", "events", "nope", "--follow"), "no run 'nope'")


@pytest.fixture(autouse=True)
def _own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test its own default store (the subprocesses read the environment)."""
    monkeypatch.setenv("FLOWLOOM_DATABASE_URL", f"sqlite:///{tmp_path / 'history.db'}")
