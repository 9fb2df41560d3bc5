"""The VisualFlow conformance corpus on PostgreSQL: the corpus's reference runner drives the cases through the
``flowloom`` command exactly as ``test_visualflow_conformance`` does, but each case's ``--store`` is a new
PostgreSQL database (and every resume a new process on it). Every case that runs a flow or carries a run
between processes is here; bundle cases that only pack, inspect or install touch no store and run on SQLite
only. Cases the SQLite pass lists as expected failures are left out (they fail there first)."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from _cli_pool import CliPool, client_command, serve_socket
from _postgres import PG_TIMEOUT, create_database
from _postgres import postgres_server as postgres_server  # the session fixture ``postgres_url``
from test_visualflow_conformance import CALL_TIMEOUT_S, CASES, FLOWLOOM, JOBS, WORKERS, _expected, load_runner

pytestmark = PG_TIMEOUT


def _carries_state(case: dict[str, Any]) -> bool:
    steps = case.get("steps", [])
    return any(step.get("op") == "resume" for step in steps) or any(
        step.get("expect", {}).get("status") == "waiting" for step in steps
    )


def subset() -> list[dict[str, Any]]:
    """The cases that use a run store."""
    return [
        case
        for case in CASES
        if _expected(case["id"], case["area"]) is None and ("flow" in case or _carries_state(case))
    ]


SUBSET = subset()


@pytest.fixture(scope="module")
def verdicts(postgres_url: str) -> dict[str, tuple[str, list[str]]]:
    """Every case of the subset, run once through the CLI on a database of its own (the server is the
    session's throwaway one), by id."""
    runner = load_runner()

    base: type[Any] = vars(runner)["Cli"]  # the runner is loaded from its file: no static type

    class PostgresCli(base):  # type: ignore[misc]
        def __init__(self, bin_cmd: str, folder: Path) -> None:
            super().__init__(bin_cmd, folder)
            self.store = create_database(postgres_url)

    vars(runner)["Cli"] = PostgresCli  # run_case makes its Cli by this name
    run_case: Callable[[dict[str, Any], str], tuple[str, list[str]]] = runner._safe_run_case
    with (
        CliPool("flowloom.cli:main", workers=WORKERS) as workers,
        serve_socket(workers, CALL_TIMEOUT_S) as path,
    ):
        command = shlex.join(client_command(path, str(FLOWLOOM)))  # resumes stay processes of their own
        with ThreadPoolExecutor(max_workers=JOBS) as threads:
            results = list(threads.map(lambda case: (case["id"], run_case(case, command)), SUBSET))
    return dict(results)


@pytest.mark.parametrize("case_id", [case["id"] for case in SUBSET])
def test_case_on_postgresql(case_id: str, verdicts: dict[str, tuple[str, list[str]]]) -> None:
    verdict, diffs = verdicts[case_id]
    assert verdict == "agree", "; ".join(diffs)[:2000]


def test_the_postgresql_pass_covers_every_run_area_and_every_resume() -> None:
    resuming = [c for c in CASES if _carries_state(c) and _expected(c["id"], c["area"]) is None]
    runs = [c for c in CASES if "flow" in c and _expected(c["id"], c["area"]) is None]
    assert {case["area"] for case in SUBSET} == {case["area"] for case in runs + resuming}
    assert all(case in SUBSET for case in resuming)
    assert len(SUBSET) >= 200
