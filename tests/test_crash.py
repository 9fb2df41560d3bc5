"""Crash recovery across processes: a run killed with SIGKILL is resumed by another process, on SQLite and on
PostgreSQL, and engines sharing PostgreSQL never resume the same orphaned run twice."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _postgres import PG_TIMEOUT, create_database
from _stores import postgres_server, sql_store_url  # noqa: F401
from flowloom import Status
from flowloom.stores import SqlStore

TESTS = Path(__file__).resolve().parent
NODES = 50


def _worker(*args: str, count_file: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(TESTS), "FLOWLOOM_TEST_COUNT_FILE": str(count_file)}
    return subprocess.Popen(
        [sys.executable, str(TESTS / "_crash_worker.py"), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _lines(count_file: Path) -> list[str]:
    return count_file.read_text().splitlines() if count_file.exists() else []


def _wait_for_lines(count_file: Path, n: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while len(_lines(count_file)) < n:
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.01)


def _kill(process: subprocess.Popen[str]) -> None:
    """SIGKILL, then reap it (its owner id now names a dead process) and close its pipes."""
    process.send_signal(signal.SIGKILL)
    process.communicate()


def _finish(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return out


async def _snapshot(url: str, run_id: str) -> dict[str, Status]:
    async with SqlStore(url) as store:
        return {node.node_id: node.status for node in await store.get_nodes(run_id)}


@pytest.mark.anyio
async def test_a_killed_run_resumes_in_a_new_process(
    store_url: str, tmp_path: Path, anyio_backend: str
) -> None:
    count_file = tmp_path / "executions.txt"
    first = _worker("start", store_url, "crashy", str(NODES), count_file=count_file)
    _wait_for_lines(count_file, NODES // 2, first)
    _kill(first)

    before = await _snapshot(store_url, "crashy")
    succeeded_before = {node for node, status in before.items() if status is Status.SUCCEEDED}
    assert 0 < len(succeeded_before) < NODES  # killed in the middle
    async with SqlStore(store_url) as store:
        row = await store.get_run("crashy")
    assert row is not None and row.status is Status.PROCESSING

    result = json.loads(_finish(_worker("resume", store_url, "crashy", count_file=count_file)))
    assert result == {"status": "succeeded", "outputs": {"y": NODES}}

    runs = collections.Counter(line.split()[1] for line in _lines(count_file))
    assert set(runs) == {f"c{i}" for i in range(1, NODES + 1)}  # every node ran
    assert all(runs[node] == 1 for node in succeeded_before if node.startswith("c"))  # none ran twice
    assert sum(runs.values()) - NODES <= 1  # at most the node in flight at the kill ran again

    async with SqlStore(store_url) as store:
        history = await store.list_runs()
        nodes = await store.get_nodes("crashy")
        finished = await store.get_run("crashy")
    assert [r.id for r in history] == ["crashy"]
    assert len(nodes) == NODES + 2 and {n.status for n in nodes} == {Status.SUCCEEDED}
    assert finished is not None and finished.status is Status.SUCCEEDED and finished.owner is None


@PG_TIMEOUT
@pytest.mark.anyio
async def test_two_engines_sharing_postgres_never_resume_the_same_run(
    postgres_url: str, tmp_path: Path, anyio_backend: str
) -> None:
    url = create_database(postgres_url)
    count_file = tmp_path / "executions.txt"
    victims = [f"orphan{i}" for i in range(6)]
    for run_id in victims:  # runs left processing by killed processes
        process = _worker("start", url, run_id, "200", count_file=count_file)
        _wait_for_lines(count_file, len(_lines(count_file)) + 2, process)
        _kill(process)
    before = len(_lines(count_file))

    rivals = [_worker("orphans", url, count_file=count_file) for _ in range(2)]
    claimed = [json.loads(_finish(process)) for process in rivals]
    assert set(claimed[0]).isdisjoint(claimed[1])  # no run resumed by both
    assert sorted([*claimed[0], *claimed[1]]) == victims  # and every orphan by one of them
    assert all(outputs == {"y": 200} for resumed in claimed for outputs in resumed.values())
    again = collections.Counter(line for line in _lines(count_file)[before:])
    assert max(again.values()) == 1  # no node execution happened twice in the resumptions
