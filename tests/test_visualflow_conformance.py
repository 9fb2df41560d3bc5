"""The VisualFlow conformance corpus (``../shared/conformance/visualflow/``, or
``$FLOWLOOM_VISUALFLOW_DIR``): every case runs through the ``flowloom`` command as the corpus README says,
each in its own folder with its own SQLite store, every resume in a new process; the corpus's own reference
runner compares the results. The runner takes a command line, so it is given ``_cli_client.py``, which hands
each call to a few long-lived workers calling the CLI in-process (``_cli_pool.py``: ``import flowloom`` paid
once per worker, not once per call), except ``runs resume``, which the client runs as a real ``flowloom``
process (the contract: a resume runs in another process than its run). Cases flowloom does not pass yet are
listed below with the reason, as strict expected failures: one that starts passing fails the suite until it
is taken off the list."""

from __future__ import annotations

import importlib.util
import os
import shlex
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from _cli_pool import CliPool, client_command, serve_socket

ENV_VAR = "FLOWLOOM_VISUALFLOW_DIR"
FLOWLOOM = Path(sys.executable).parent / "flowloom"
JOBS = 4
WORKERS = 3  # long-lived CLI workers (the machine has 2 cores; calls also wait on I/O)
CALL_TIMEOUT_S = 60.0  # as the runner's own timeout of one call
pytestmark = pytest.mark.timeout(900)  # the module fixture runs ~340 CLI calls (about 2 minutes here)


def corpus_dir() -> Path:
    configured = os.environ.get(ENV_VAR)
    path = (
        Path(configured)
        if configured
        else Path(__file__).resolve().parents[2] / "shared" / "conformance" / "visualflow"
    )
    if not (path / "runner.py").is_file():
        raise FileNotFoundError(f"no VisualFlow conformance corpus at {path} (set ${ENV_VAR})")
    return path


def load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("visualflow_runner", corpus_dir() / "runner.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXPECTED_FAILURES: dict[str, str] = {}  # case id -> why flowloom does not pass it yet


def _cases() -> list[dict[str, Any]]:
    runner = load_runner()
    cases: list[dict[str, Any]] = runner.load_cases(corpus_dir() / "cases")
    return cases


CASES = _cases()


def _expected(case_id: str, area: str) -> str | None:
    if case_id in EXPECTED_FAILURES:
        return EXPECTED_FAILURES[case_id]
    return None


@pytest.fixture(scope="module")
def verdicts(request: pytest.FixtureRequest) -> dict[str, tuple[str, list[str]]]:
    """Every selected case (``-k bundle`` runs only those), run once through the CLI (a few at a time, in
    the pool's workers), by id."""
    selected = {
        item.callspec.params["case_id"]
        for item in request.session.items
        if item.module is request.module
        and "case_id" in getattr(getattr(item, "callspec", None), "params", {})
    }
    runner = load_runner()
    run_case: Callable[[dict[str, Any], str], tuple[str, list[str]]] = runner._safe_run_case
    chosen = [case for case in CASES if case["id"] in selected]
    with (
        CliPool("flowloom.cli:main", workers=WORKERS) as workers,
        serve_socket(workers, CALL_TIMEOUT_S) as path,
    ):
        command = shlex.join(client_command(path, str(FLOWLOOM)))
        with ThreadPoolExecutor(max_workers=JOBS) as threads:
            results = list(threads.map(lambda case: (case["id"], run_case(case, command)), chosen))
    return dict(results)


def _params() -> list[Any]:
    params = []
    for case in CASES:
        reason = _expected(case["id"], case["area"])
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(case["id"], id=case["id"], marks=marks))
    return params


@pytest.mark.parametrize("case_id", _params())
def test_case(case_id: str, verdicts: dict[str, tuple[str, list[str]]]) -> None:
    verdict, diffs = verdicts[case_id]
    assert verdict == "agree", "; ".join(diffs)[:2000]


def test_the_corpus_is_all_here() -> None:
    assert len(CASES) == 262
