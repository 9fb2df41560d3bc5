"""A Pipeline task's ``context.wait_for_input`` answered from a second process, on SQLite and PostgreSQL: the
run waits and its process exits; other processes answer each question in turn; the waiting task runs again
and gets the answer; what succeeded is not run again."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from _stores import postgres_server, sql_store_url  # noqa: F401

TESTS = Path(__file__).resolve().parent


def worker(count_file: Path, *args: str) -> Any:
    env = {**os.environ, "PYTHONPATH": str(TESTS), "FLOWLOOM_TEST_COUNT_FILE": str(count_file)}
    done = subprocess.run(
        [sys.executable, str(TESTS / "_pipeline_wait_worker.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_wait_for_input_is_answered_from_other_processes(tmp_path: Path, store_url: str) -> None:
    count_file = tmp_path / "ran.txt"
    first = worker(count_file, "run", store_url)
    run_id = first["run_id"]
    assert first["status"] == "WAITING"
    assert {name: task["status"] for name, task in first["tasks"].items()} == {
        "extract": "SUCCESS",
        "approve": "WAITING",
        "ship": "PENDING",
        "report": "PENDING",
    }

    stale = worker(count_file, "answer", store_url, run_id, '"yes"', "note")
    assert stale == {"refused": f"run {run_id} has no wait with key 'note' (open: 'ship')"}
    second = worker(count_file, "answer", store_url, run_id, '"yes"')
    assert second["run_id"] == run_id and second["status"] == "WAITING"
    assert second["tasks"]["approve"]["status"] == "SUCCESS" and second["tasks"]["approve"]["result"] is True
    assert second["tasks"]["ship"]["status"] == "WAITING"

    third = worker(count_file, "answer", store_url, run_id, '"fragile"', "note")
    assert third["status"] == "SUCCESS"
    assert third["tasks"]["report"]["result"] == "True: fragile"
    again = worker(count_file, "answer", store_url, run_id, '"late"', "note")
    assert again == {"refused": f"run {run_id} is not waiting: it has ended (succeeded)"}

    runs = collections.Counter(count_file.read_text().split())
    # each waiting task ran once more after its answer; what had succeeded did not run again
    assert runs == {"extract": 1, "approve": 2, "ship": 2, "report": 1}
