"""Pipelines with a store: runs are recorded through the engine, and resumed from the store by another
pipeline object or another process; results that cannot be stored are computed again when needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flowloom import Pipeline, RunContext, Status
from flowloom.pipeline import UnknownRunError
from flowloom.pipeline._report import PLACEHOLDER_KEY
from flowloom.stores import UNSERIALIZABLE, MemoryStore, SqlStore

pytestmark = pytest.mark.anyio
TESTS = Path(__file__).resolve().parent


class Blob:
    def __init__(self, size: int) -> None:
        self.size = size


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path, anyio_backend: str) -> AsyncIterator[Any]:
    opened = MemoryStore() if request.param == "memory" else SqlStore(f"sqlite:///{tmp_path / 'runs.db'}")
    async with opened:
        yield opened


def diamond(store: Any, broken: set[str], ran: Counter[str]) -> Pipeline:
    """a -> (b, c) -> d; ``a`` returns a Blob (not JSON), ``b`` measures it."""
    pipeline = Pipeline("diamond", store=store)

    @pipeline.task()
    def a() -> Blob:
        ran["a"] += 1
        return Blob(5)

    @pipeline.task()
    async def b(a: Blob) -> int:
        ran["b"] += 1
        return a.size

    @pipeline.task()
    def c() -> int:
        ran["c"] += 1
        if "c" in broken:
            raise RuntimeError("c is broken")
        return 100

    @pipeline.task()
    def d(b: int, c: int) -> int:
        ran["d"] += 1
        return b + c

    return pipeline


def chain(store: Any, broken: set[str], ran: Counter[str]) -> Pipeline:
    """x -> y -> z, JSON results only."""
    pipeline = Pipeline("chain", store=store)

    @pipeline.task()
    def x() -> list[int]:
        ran["x"] += 1
        return [1, 2]

    @pipeline.task()
    def y(x: list[int]) -> int:
        ran["y"] += 1
        if "y" in broken:
            raise RuntimeError("y is broken")
        return sum(x)

    @pipeline.task()
    def z(y: int) -> str:
        ran["z"] += 1
        return f"total {y}"

    return pipeline


@dataclass(frozen=True)
class Deps:
    source_path: str


def test_the_placeholder_is_the_stores() -> None:
    assert PLACEHOLDER_KEY == UNSERIALIZABLE


async def test_runs_are_recorded_in_the_store(store: Any) -> None:
    pipeline = chain(store, set(), Counter())
    run_id = await pipeline.run_once(RunContext(None).with_metadata(batch="7"))
    row = await store.get_run(run_id)
    assert row.status is Status.SUCCEEDED
    assert row.metadata == {"batch": "7", "pipeline": "chain"}
    nodes = {node.node_id: node for node in await store.get_nodes(run_id)}
    assert {name: node.status for name, node in nodes.items()} == dict.fromkeys("xyz", Status.SUCCEEDED)
    assert nodes["z"].outputs == {"result": "total 3"}
    live = pipeline.get_run_report(run_id)
    stored = await chain(store, set(), Counter()).load_run_report(run_id)  # not this pipeline's run
    for key in ("run_id", "dag_name", "metadata", "status"):
        assert stored[key] == live[key]
    assert stored["finished_at"] >= stored["created_at"] > 0
    for name in "xyz":
        for key in ("status", "attempt", "error", "result"):
            assert stored["tasks"][name][key] == live["tasks"][name][key]


async def test_another_pipeline_object_resumes_from_the_store(store: Any) -> None:
    ran = Counter[str]()
    first_id = await chain(store, {"y"}, ran).run_once()
    later = chain(store, set(), ran)  # as a new process would build it
    with pytest.raises(UnknownRunError):
        later.get_run_report(first_id)
    stored = await later.load_run_report(first_id)
    assert stored["status"] == "FAILED" and stored["dag_name"] == "chain"
    assert {name: entry["status"] for name, entry in stored["tasks"].items()} == {
        "x": "SUCCESS",
        "y": "FAILED",
        "z": "SKIPPED",
    }
    assert stored["tasks"]["y"]["error"] == "RuntimeError: y is broken"
    assert stored["tasks"]["z"]["error"] == "upstream_failed: y"
    new_id = await later.resume(first_id)
    report = later.get_run_report(new_id)
    assert report["status"] == "SUCCESS" and report["resumed_from"] == first_id
    assert report["tasks"]["x"]["result"] == [1, 2] and report["tasks"]["x"]["attempt"] == 1
    assert report["tasks"]["z"]["result"] == "total 3"
    assert ran == Counter({"x": 1, "y": 2, "z": 1})
    assert (await store.get_run(new_id)).parent_run_id == first_id
    again = await later.resume(new_id, from_tasks=["z"])
    assert later.get_run_report(again)["status"] == "SUCCESS"
    assert ran == Counter({"x": 1, "y": 2, "z": 2})
    with pytest.raises(UnknownRunError):
        await later.resume("no-such-run")


async def test_results_that_cannot_be_stored_run_again_on_resume(store: Any) -> None:
    ran = Counter[str]()
    first_id = await diamond(store, {"c"}, ran).run_once()
    rows = {node.node_id: node for node in await store.get_nodes(first_id)}
    assert rows["a"].outputs == {"result": {UNSERIALIZABLE: "Blob"}}
    assert rows["b"].outputs == {"result": 5}  # b got the Blob itself, in memory
    later = diamond(store, set(), ran)
    stored = await later.load_run_report(first_id)
    assert stored["tasks"]["a"]["result"] == {UNSERIALIZABLE: "Blob"}
    assert stored["tasks"]["a"]["result_note"].startswith("not JSON-serializable (Blob): the store kept")
    new_id = await later.resume(first_id)
    report = later.get_run_report(new_id)
    assert report["status"] == "SUCCESS"
    assert report["tasks"]["d"]["result"] == 105
    assert isinstance(report["tasks"]["a"]["result"], Blob)
    assert ran == Counter({"a": 2, "b": 2, "c": 2, "d": 1})


def _worker(*args: str, count_file: Path, fail: str = "") -> str:
    env = {**os.environ, "FLOWLOOM_TEST_COUNT_FILE": str(count_file), "FAIL_TASK": fail}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH", "")]))
    done = subprocess.run(
        [sys.executable, str(TESTS / "_pipeline_worker.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


async def test_resuming_a_run_of_this_process_keeps_its_whole_context(store: Any) -> None:
    pipeline = Pipeline("ctx", store=store)
    broken = {"b"}

    @pipeline.task()
    def a(context: RunContext[Deps]) -> str:
        return context.source_path

    @pipeline.task()
    def b(a: str, context: RunContext[Deps]) -> str:
        if "b" in broken:
            raise RuntimeError("b is broken")
        return f"{a}+{context.source_path}"

    first = await pipeline.run_once(RunContext(Deps("/data")))
    broken.clear()
    with pytest.raises(TypeError, match=r"not Deps .*: pass RunContext\(deps=\.\.\.\)"):
        await pipeline.resume(first, context=Deps("/data"))  # type: ignore[arg-type]
    second = await pipeline.resume(first)  # the deps are not stored, but this process still has them
    assert pipeline.get_run_report(second)["tasks"]["b"]["result"] == "/data+/data"


def test_resume_in_a_second_process_from_a_sqlite_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    count_file = tmp_path / "executions.txt"
    run_id = _worker("run", url, count_file=count_file, fail="c")
    assert sorted(count_file.read_text().split()) == ["a", "b", "c"]
    report = json.loads(_worker("resume", url, run_id, count_file=count_file))
    assert report["status"] == "SUCCESS" and report["resumed_from"] == run_id
    assert report["tasks"]["d"]["result"] == {"sum": 112}
    assert {name: entry["status"] for name, entry in report["tasks"].items()} == dict.fromkeys(
        "abcd", "SUCCESS"
    )
    assert sorted(count_file.read_text().split()) == ["a", "b", "c", "c", "d"]

    # The runs are the store's like any other: the CLI lists and shows them.
    listed = json.loads(_cli("runs", "list", "--json", "--store", url))
    new_id = report["run_id"]
    assert [(run["id"], run["status"], run["parent_run_id"]) for run in listed] == [
        (new_id, "succeeded", run_id),
        (run_id, "failed", None),
    ]
    assert listed[1]["metadata"] == {"pipeline": "diamond"}
    shown = json.loads(_cli("runs", "show", new_id, "--json", "--store", url))
    outputs = {node["node_id"]: node["outputs"] for node in shown["nodes"]}
    assert outputs["d"] == {"result": {"sum": 112}}


def _cli(*args: str) -> str:
    done = subprocess.run(
        [Path(sys.executable).parent / "flowloom", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
