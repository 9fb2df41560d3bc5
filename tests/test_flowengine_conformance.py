"""Every case of ``../shared/conformance/flowengine/`` through the CLI (``flowloom run|validate|nodes``), with
the corpus's own reference servers, a real headless Chromium (``scripts/chromium.sh``) and a Podman service
serving the Docker Engine API with a local image (``tests/_containers.py``), each started for the session.
Cases are run up front, several at a time, in a few long-lived workers that call the CLI in-process
(``tests/_cli_pool.py``: start-up paid once per worker, not once per case); the ``timing`` cases (wall-time
bounds, cancel signals, lines timed as they stream) run alone, after the others, each as a ``flowloom``
process. Each test then compares one case's outcome."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from _cli_pool import CliPool
from _containers import IMAGE, podman_service
from _flowengine_cases import (
    Outcome,
    corpus_dir,
    flowloom_command,
    load_cases,
    needs_process,
    problems,
    run_case,
    slow_start_ms,
)

CASES = load_cases()
WORKERS = 3  # long-lived CLI workers for the ordinary cases (the machine has 2 cores; calls also wait on I/O)
SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _param(case: dict[str, Any]) -> Any:
    return pytest.param(case, id=case["id"])


def _needed(need: str) -> bool:
    return any(need in case.get("needs", ()) for case in CASES)


@pytest.fixture(scope="session")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Outcome, float]]]:
    sys.path.insert(0, str(corpus_dir()))
    if _needed("chromium"):
        done = subprocess.run([SCRIPTS / "chromium.sh"], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    with ExitStack() as stack:
        socket = None
        if _needed("container-engine"):
            socket = stack.enter_context(podman_service(tmp_path_factory.mktemp("podman")))
        yield from _run_all(tmp_path_factory, socket)


def _run_all(
    tmp_path_factory: pytest.TempPathFactory, socket: str | None
) -> Iterator[dict[str, tuple[Outcome, float]]]:
    from servers import start_servers  # type: ignore[import-not-found]

    echo, zypi = start_servers()
    store = tmp_path_factory.mktemp("flowengine-store") / "runs.db"
    # bytecode is cached (a CLI process otherwise compiles every module again: ~1 s each)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["FLOWLOOM_DATABASE_URL"] = f"sqlite:///{store}"
    if socket is not None:
        env["DOCKER_HOST"] = f"unix://{socket}"
    names = {"HTTP_ECHO": echo.base_url, "ZYPI": zypi.base_url, "DOCKER_IMAGE": IMAGE}
    command = flowloom_command()
    found: dict[str, tuple[Outcome, float]] = {}
    try:
        ordinary = [c for c in CASES if not needs_process(c)]
        first, rest = ordinary[0], ordinary[1:]  # the first creates the store alone
        with CliPool("flowloom.cli:main", workers=WORKERS, env=env) as workers:
            found[first["id"]] = run_case(first, names, command, env, workers), 0.0
            with ThreadPoolExecutor(max_workers=WORKERS) as threads:
                runs = threads.map(lambda c: run_case(c, names, command, env, workers), rest)
                for case, outcome in zip(rest, runs, strict=True):
                    found[case["id"]] = outcome, 0.0  # no wall-time bound: start-up does not matter
        for case in CASES:
            if needs_process(case):  # alone, each after a fresh measure of the start-up
                busy = slow_start_ms(command, env)
                found[case["id"]] = run_case(case, names, command, env), busy
        yield found
    finally:
        echo.shutdown()
        zypi.shutdown()


def test_corpus_is_complete() -> None:
    assert len(CASES) == 222, f"{len(CASES)} cases in {corpus_dir()}"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_case(case: dict[str, Any], outcomes: dict[str, tuple[Outcome, float]]) -> None:
    outcome, slow_start = outcomes[case["id"]]
    found = list(problems(case, outcome, slow_start))
    assert not found, (
        f"{case['id']}: {case['description']}\n  "
        + "\n  ".join(found)
        + (f"\n  stderr: {outcome.stderr[-600:]}" if outcome.stderr else "")
    )


def test_every_case_ran(outcomes: dict[str, tuple[Outcome, float]]) -> None:
    assert sorted(outcomes) == sorted(case["id"] for case in CASES)
