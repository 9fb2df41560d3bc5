"""Running pipelines: results and reports, sync and async tasks, concurrency limits, failures and skips,
retries, timeouts, cancellation and deadlines, run_many, subgraphs, in-process resume, overrides."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

from flowloom import Pipeline, RunCancelledError, RunContext, fn_hook
from flowloom.ir import RetryPolicy
from flowloom.pipeline import UnknownRunError

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class Deps:
    source_path: str


class Blob:
    """A result that is not JSON-serializable."""

    def __init__(self, size: int) -> None:
        self.size = size


def statuses(pipeline: Pipeline, run_id: str) -> dict[str, str]:
    return {name: entry["status"] for name, entry in pipeline.get_run_report(run_id)["tasks"].items()}


async def test_quick_start_report_shape() -> None:
    pipeline = Pipeline("daily_etl", max_workers=4, max_parallel=3)

    @pipeline.task()
    def extract(context: RunContext[Deps]) -> list[dict[str, int]]:
        return [{"id": 1, "amount": 10}, {"id": 2, "amount": 15}]

    @pipeline.task(deps=[extract])
    def transform(extract: list[dict[str, int]]) -> dict[str, int]:
        return {"rows": len(extract), "total": sum(row["amount"] for row in extract)}

    @pipeline.task(deps=[transform])
    def load(transform: dict[str, int], context: RunContext[Deps]) -> str:
        return f"loaded {transform['rows']} rows from {context.source_path}"

    context = RunContext(Deps("/tmp/orders.json")).with_metadata(source="orders", batch_id=42)
    before = int(time.time() * 1000) / 1000  # report times are in milliseconds
    async with pipeline:
        run_id = await pipeline.run_once(context=context)
    report = pipeline.get_run_report(run_id)
    assert set(report) == {"run_id", "dag_name", "metadata", "created_at", "finished_at", "status", "tasks"}
    assert report["run_id"] == run_id and report["dag_name"] == "daily_etl"
    assert report["metadata"] == {"source": "orders", "batch_id": 42}
    assert report["status"] == "SUCCESS"
    assert before <= report["created_at"] <= report["finished_at"]
    assert list(report["tasks"]) == ["extract", "transform", "load"]
    load_entry = report["tasks"]["load"]
    assert set(load_entry) == {"status", "attempt", "started_at", "finished_at", "error", "result"}
    assert load_entry["status"] == "SUCCESS" and load_entry["attempt"] == 1 and load_entry["error"] is None
    assert load_entry["result"] == "loaded 2 rows from /tmp/orders.json"
    assert report["tasks"]["transform"]["result"] == {"rows": 2, "total": 25}
    assert load_entry["started_at"] <= load_entry["finished_at"]


async def test_sync_tasks_run_on_threads_and_async_tasks_on_the_loop() -> None:
    pipeline = Pipeline("where")
    loop_thread = threading.get_ident()

    @pipeline.task()
    def sync_task() -> tuple[int, str]:
        return threading.get_ident(), threading.current_thread().name

    @pipeline.task()
    async def async_task() -> int:
        return threading.get_ident()

    async with pipeline:
        report = pipeline.get_run_report(await pipeline.run_once())
    ident, name = report["tasks"]["sync_task"]["result"]
    assert ident != loop_thread and name.startswith("flowloom-where")
    assert report["tasks"]["async_task"]["result"] == loop_thread


async def test_a_given_executor_runs_sync_tasks() -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="mine") as executor:
        pipeline = Pipeline("own", executor=executor)

        @pipeline.task()
        def where() -> str:
            return threading.current_thread().name

        run_id = await pipeline.run_once()
    assert pipeline.get_run_report(run_id)["tasks"]["where"]["result"].startswith("mine")


async def test_max_parallel_caps_async_tasks() -> None:
    pipeline = Pipeline("cap", max_parallel=3)
    running = Counter[str]()

    for i in range(8):

        @pipeline.task(name=f"t{i}")
        async def task() -> None:
            running["now"] += 1
            running["peak"] = max(running["peak"], running["now"])
            await anyio.sleep(0.02)
            running["now"] -= 1

    run_id = await pipeline.run_once()
    assert pipeline.get_run_report(run_id)["status"] == "SUCCESS"
    assert running["peak"] == 3


@pytest.mark.parametrize(("max_parallel", "max_workers", "peak"), [(2, 8, 2), (6, 3, 3)])
async def test_max_parallel_and_max_workers_cap_sync_tasks(
    max_parallel: int, max_workers: int, peak: int
) -> None:
    pipeline = Pipeline("cap", max_parallel=max_parallel, max_workers=max_workers)
    lock = threading.Lock()
    running = Counter[str]()

    for i in range(8):

        @pipeline.task(name=f"t{i}")
        def task() -> None:
            with lock:
                running["now"] += 1
                running["peak"] = max(running["peak"], running["now"])
            time.sleep(0.02)
            with lock:
                running["now"] -= 1

    async with pipeline:
        run_id = await pipeline.run_once()
    assert pipeline.get_run_report(run_id)["status"] == "SUCCESS"
    assert running["peak"] == peak


def branches(fail: set[str]) -> tuple[Pipeline, Counter[str]]:
    """a -> b -> c (b may fail) and an independent x -> y; d joins c and y."""
    pipeline = Pipeline("branches")
    ran = Counter[str]()

    def make(name: str, deps: list[str]) -> None:
        @pipeline.task(name=name, deps=deps)
        async def task(upstream: dict[str, Any]) -> str:
            ran[name] += 1
            if name in fail:
                raise ValueError(f"{name} broke")
            return name + "".join(sorted(upstream.values()))

    for name, deps in [("a", []), ("b", ["a"]), ("c", ["b"]), ("x", []), ("y", ["x"]), ("d", ["c", "y"])]:
        make(name, deps)
    return pipeline, ran


async def test_a_failure_skips_its_dependents_and_independent_branches_finish() -> None:
    pipeline, ran = branches(fail={"b"})
    run_id = await pipeline.run_once()
    report = pipeline.get_run_report(run_id)
    assert report["status"] == "FAILED"
    assert statuses(pipeline, run_id) == {
        "a": "SUCCESS",
        "x": "SUCCESS",
        "b": "FAILED",
        "y": "SUCCESS",
        "c": "SKIPPED",
        "d": "SKIPPED",
    }
    tasks = report["tasks"]
    assert tasks["b"]["error"] == "ValueError: b broke"
    assert tasks["c"]["error"] == "upstream_failed: b"
    assert tasks["d"]["error"] == "upstream_failed: c"  # y succeeded: one live input is not enough
    assert tasks["y"]["result"] == "yx"
    assert ran == Counter({"a": 1, "b": 1, "x": 1, "y": 1})


async def test_a_none_result_reaches_its_dependents() -> None:
    pipeline = Pipeline("none")

    @pipeline.task()
    def nothing() -> None:
        return None

    @pipeline.task()
    def check(nothing: object) -> str:
        return f"got {nothing!r}"

    run_id = await pipeline.run_once()
    assert pipeline.get_run_report(run_id)["tasks"]["check"]["result"] == "got None"


async def test_retries_are_immediate_and_counted() -> None:
    pipeline = Pipeline("retry")
    calls = Counter[str]()

    @pipeline.task(retries=2)
    def flaky() -> str:
        calls["flaky"] += 1
        if calls["flaky"] < 3:
            raise ConnectionError(f"attempt {calls['flaky']}")
        return "ok"

    @pipeline.task(retries=1)
    async def hopeless() -> None:
        calls["hopeless"] += 1
        raise RuntimeError("never")

    run_id = await pipeline.run_once()
    tasks = pipeline.get_run_report(run_id)["tasks"]
    assert tasks["flaky"] | {"started_at": 0, "finished_at": 0} == {
        "status": "SUCCESS",
        "attempt": 3,
        "started_at": 0,
        "finished_at": 0,
        "error": None,
        "result": "ok",
    }
    assert tasks["hopeless"]["status"] == "FAILED" and tasks["hopeless"]["attempt"] == 2
    assert tasks["hopeless"]["error"] == "RuntimeError: never"
    assert calls == Counter({"flaky": 3, "hopeless": 2})


async def test_a_backoff_policy_retries_after_its_delay() -> None:
    pipeline = Pipeline("backoff")
    calls: list[float] = []

    @pipeline.task(retry=RetryPolicy(max_attempts=2, delay_s=0.05))
    async def flaky() -> int:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise ConnectionError("first")
        return len(calls)

    run_id = await pipeline.run_once()
    assert pipeline.get_run_report(run_id)["tasks"]["flaky"]["result"] == 2
    assert calls[1] - calls[0] >= 0.05  # the delay is a lower bound, not a timing measurement


async def test_an_async_task_past_its_timeout_fails_and_its_dependents_are_skipped() -> None:
    pipeline = Pipeline("timeout")
    stopped = anyio.Event()

    @pipeline.task(timeout_s=0.05)
    async def slow() -> None:
        try:
            await anyio.sleep(30)
        finally:
            stopped.set()

    @pipeline.task()
    def after(slow: None) -> None:
        pass

    run_id = await pipeline.run_once()
    tasks = pipeline.get_run_report(run_id)["tasks"]
    assert tasks["slow"]["status"] == "FAILED" and "timed out after 0.05s" in tasks["slow"]["error"]
    assert tasks["after"]["status"] == "SKIPPED"
    assert stopped.is_set()


async def test_a_task_sees_its_deadline_in_the_context() -> None:
    pipeline = Pipeline("deadline")

    @pipeline.task(timeout_s=30.0)
    async def bounded(context: RunContext[None]) -> tuple[float | None, bool]:
        return context.time_remaining_s(), context.deadline_exceeded()

    @pipeline.task()
    async def unbounded(context: RunContext[None]) -> float | None:
        return context.time_remaining_s()

    run_id = await pipeline.run_once()
    tasks = pipeline.get_run_report(run_id)["tasks"]
    remaining, exceeded = tasks["bounded"]["result"]
    assert 0 < remaining <= 30.0 and exceeded is False
    assert tasks["unbounded"]["result"] is None


def waiting_pipeline() -> tuple[Pipeline, anyio.Event, list[str]]:
    """``hang`` waits forever (after setting ``started``); ``after`` depends on it; ``other`` is free."""
    pipeline = Pipeline("cancel")
    started = anyio.Event()
    seen: list[str] = []

    @pipeline.task()
    async def hang() -> None:
        started.set()
        try:
            await anyio.sleep_forever()
        except BaseException as exc:
            seen.append(type(exc).__name__)
            raise

    @pipeline.task()
    def after(hang: None) -> None:
        seen.append("after ran")

    @pipeline.task()
    async def other() -> str:
        return "done"

    return pipeline, started, seen


async def test_cancelling_a_run_mid_way_cancels_its_async_tasks() -> None:
    pipeline, started, seen = waiting_pipeline()
    async with pipeline:
        handle = pipeline.start()
        await started.wait()
        assert pipeline.get_run_report(handle.id)["tasks"]["hang"]["status"] == "RUNNING"
        assert pipeline.get_run_report(handle.id)["status"] == "RUNNING"
        assert handle.cancel() is True
        assert await handle.wait() == handle.id
    assert seen == ["CancelledError"]
    report = pipeline.get_run_report(handle.id)
    assert report["status"] == "FAILED"
    assert report["tasks"]["hang"]["status"] == "FAILED"
    assert report["tasks"]["hang"]["error"] == "run was canceled"
    assert report["tasks"]["after"]["status"] == "SKIPPED"
    assert handle.cancel() is False


async def test_cancelling_the_caller_of_run_once_cancels_the_run() -> None:
    pipeline, started, seen = waiting_pipeline()
    async with anyio.create_task_group() as tg:
        tg.start_soon(pipeline.run_once)
        await started.wait()
        tg.cancel_scope.cancel()
    assert seen == ["CancelledError"]
    (run_id,) = pipeline._runner.runs  # the one run, ended
    assert pipeline.get_run_report(run_id)["tasks"]["hang"]["error"] == "run was canceled by its caller"


async def test_a_run_past_its_deadline_is_cancelled() -> None:
    pipeline, _started, seen = waiting_pipeline()
    run_id = await pipeline.run_once(RunContext(None, timeout_s=0.05))
    report = pipeline.get_run_report(run_id)
    assert seen == ["CancelledError"]
    assert report["status"] == "FAILED"
    assert report["tasks"]["hang"]["error"] == "run exceeded its deadline (timeout_s=0.05)"


@pytest.mark.parametrize("timeout_s", [0, -1.0, float("nan"), True, "5"])
def test_a_context_timeout_must_be_a_positive_number(timeout_s: Any) -> None:
    with pytest.raises(ValueError, match=r"RunContext timeout_s must be a positive number of seconds, not "):
        RunContext(None, timeout_s=timeout_s)
    with pytest.raises(ValueError, match=r"RunContext timeout_s must be a positive number of seconds"):
        RunContext(None).with_timeout(timeout_s)


async def test_a_sync_task_stops_cooperatively_when_its_run_is_cancelled() -> None:
    pipeline = Pipeline("coop")
    started = threading.Event()
    stopped = threading.Event()
    outcome: list[str] = []

    @pipeline.task()
    def crunch(context: RunContext[None]) -> None:
        started.set()
        try:
            while True:
                context.raise_if_cancelled()
                time.sleep(0.001)
        except RunCancelledError as exc:
            outcome.append(str(exc))
            raise
        finally:
            stopped.set()

    async with pipeline:
        handle = pipeline.start()
        await anyio.to_thread.run_sync(started.wait, 10)
        handle.cancel()
        await handle.wait()
        assert await anyio.to_thread.run_sync(stopped.wait, 10)
    assert outcome == [f'run {handle.id} was canceled (in task "crunch")']
    assert pipeline.get_run_report(handle.id)["tasks"]["crunch"]["status"] == "FAILED"


async def test_a_run_refuses_bare_deps_and_says_to_wrap_them() -> None:
    pipeline = Pipeline("bare")

    @pipeline.task()
    def read(context: RunContext[Deps]) -> str:
        return context.source_path

    refused = (
        r"pipeline \"bare\": a run's context must be a RunContext or None, not Deps \(.*\): "
        r"pass RunContext\(deps=\.\.\.\)"
    )
    with pytest.raises(TypeError, match=refused):
        await pipeline.run_once(Deps("/tmp/orders.json"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=refused):
        pipeline.start(Deps("/tmp/orders.json"))  # type: ignore[arg-type]
    run_id = await pipeline.run_once(RunContext(deps=Deps("/tmp/orders.json")))
    assert pipeline.get_run_report(run_id)["tasks"]["read"]["result"] == "/tmp/orders.json"
    with pytest.raises(TypeError, match=refused):
        await pipeline.resume(run_id, from_tasks=["read"], context=Deps("/tmp/x"))  # type: ignore[arg-type]
    assert len(pipeline._runner.runs) == 1  # nothing started


async def test_run_many_runs_every_context_even_after_a_failure() -> None:
    pipeline = Pipeline("batches")

    @dataclass(frozen=True)
    class Chunk:
        index: int

    @pipeline.task()
    def process(context: RunContext[Chunk]) -> int:
        if context.index == 1:
            raise ValueError("bad chunk")
        return context.index * 10

    async def chunks() -> AsyncIterator[RunContext[Chunk]]:
        for index in range(3):
            yield RunContext(Chunk(index)).with_metadata(batch_id=index)

    for contexts in (chunks(), [RunContext(Chunk(i)) for i in range(3)]):
        run_ids = await pipeline.run_many(contexts)
        assert len(set(run_ids)) == 3
        reports = [pipeline.get_run_report(run_id) for run_id in run_ids]
        assert [r["status"] for r in reports] == ["SUCCESS", "FAILED", "SUCCESS"]
        assert [r["tasks"]["process"]["result"] for r in reports] == [0, None, 20]


async def test_run_subgraph_runs_the_targets_and_their_dependencies_only() -> None:
    pipeline, ran = branches(fail=set())
    run_id = await pipeline.run_subgraph(["c"])
    assert statuses(pipeline, run_id) == {"a": "SUCCESS", "b": "SUCCESS", "c": "SUCCESS"}
    assert pipeline.get_run_report(run_id)["status"] == "SUCCESS"
    assert ran == Counter({"a": 1, "b": 1, "c": 1})
    with pytest.raises(ValueError, match='unknown subgraph target "cc"'):
        await pipeline.run_subgraph(["cc"])


async def test_targets_and_checkpoints_may_be_any_iterable_read_once() -> None:
    pipeline, ran = branches(fail=set())
    run_id = await pipeline.run_subgraph(name for name in ["c"])
    assert statuses(pipeline, run_id) == {"a": "SUCCESS", "b": "SUCCESS", "c": "SUCCESS"}
    assert pipeline.subgraph(iter(["c"])).list_tasks() == ["a", "b", "c"]
    again = await pipeline.resume(run_id, from_tasks=iter(["c"]))
    assert ran["c"] == 2 and ran["a"] == 1 and pipeline.get_run_report(again)["status"] == "SUCCESS"


async def test_a_sync_task_raising_stop_iteration_fails_instead_of_hanging() -> None:
    pipeline = Pipeline("stops")

    @pipeline.task()
    def first() -> int:
        return int(next(iter([])))

    @pipeline.task()
    def second(first: int) -> int:
        return first

    with anyio.fail_after(10):
        run_id = await pipeline.run_once()
    assert statuses(pipeline, run_id) == {"first": "FAILED", "second": "SKIPPED"}
    assert pipeline.get_run_report(run_id)["tasks"]["first"]["error"] == "RuntimeError: StopIteration"


@pytest.mark.parametrize(
    ("raised", "error", "is_async"),
    [
        (SystemExit(3), "SystemExit: 3", False),
        (KeyboardInterrupt(), "KeyboardInterrupt", False),
        (SystemExit("bye"), "SystemExit: bye", True),
    ],
    ids=["sync-SystemExit", "sync-KeyboardInterrupt", "async-SystemExit"],
)
async def test_a_task_raising_system_exit_fails_like_any_task(
    raised: BaseException, error: str, is_async: bool
) -> None:
    failures: list[BaseException | None] = []
    pipeline = Pipeline("exits", hooks=[fn_hook(on_task_failure=lambda e: failures.append(e.exception))])

    def quit_now() -> int:
        raise raised

    async def quit_async() -> int:
        raise raised

    pipeline.task(name="quits")(quit_async if is_async else quit_now)

    @pipeline.task()
    def after(quits: int) -> int:
        return quits

    @pipeline.task()
    async def other() -> str:
        await anyio.sleep(0.05)  # still running when "quits" fails
        return "done"

    with anyio.fail_after(10):
        run_id = await pipeline.run_once()
    report = pipeline.get_run_report(run_id)
    assert statuses(pipeline, run_id) == {"quits": "FAILED", "after": "SKIPPED", "other": "SUCCESS"}
    assert report["tasks"]["quits"]["error"] == error
    assert report["tasks"]["after"]["error"] == "upstream_failed: quits"
    assert report["tasks"]["other"]["result"] == "done"
    assert failures == [raised]  # hooks get what the task raised


async def test_an_async_task_raising_keyboard_interrupt_stops_its_run_and_says_why() -> None:
    pipeline = Pipeline("interrupted")

    @pipeline.task()
    async def quits() -> None:
        raise KeyboardInterrupt  # on the loop's thread, as a Ctrl-C would come: the run stops

    @pipeline.task()
    async def other() -> None:
        await anyio.sleep_forever()

    with anyio.fail_after(10):
        run_id = await pipeline.run_once()
    tasks = pipeline.get_run_report(run_id)["tasks"]
    why = 'run was interrupted: KeyboardInterrupt in task "quits"'
    assert {name: (entry["status"], entry["error"]) for name, entry in tasks.items()} == {
        "quits": ("FAILED", why),
        "other": ("FAILED", why),
    }


async def test_copies_of_a_pipeline_share_its_threads_and_a_dropped_pipeline_leaves_none() -> None:
    def task_threads(name: str) -> list[threading.Thread]:
        return [thread for thread in threading.enumerate() if thread.name.startswith(f"flowloom-{name}_")]

    pipeline = Pipeline("copies", max_workers=2)

    @pipeline.task()
    def a() -> int:
        return 1

    @pipeline.task()
    def b(a: int) -> int:
        return a + 1

    for value in range(10):
        copy = pipeline.override_tasks(a=value)
        assert copy.get_run_report(await copy.run_once())["tasks"]["b"]["result"] == value + 1
        await pipeline.subgraph(["a"]).run_once()
    threads = task_threads("copies")
    assert 1 <= len(threads) <= 2  # not two per copy
    del pipeline, copy
    gc.collect()
    for thread in threads:
        await anyio.to_thread.run_sync(thread.join, 5.0)
    assert task_threads("copies") == []


def diamond(broken: set[str], ran: Counter[str]) -> Pipeline:
    pipeline = Pipeline("diamond")

    @pipeline.task()
    def a() -> int:
        ran["a"] += 1
        return 1

    @pipeline.task()
    async def b(a: int) -> int:
        ran["b"] += 1
        return a + 10

    @pipeline.task()
    def c(a: int) -> int:
        ran["c"] += 1
        if "c" in broken:
            raise RuntimeError("c is broken")
        return a + 100

    @pipeline.task()
    def d(b: int, c: int) -> int:
        ran["d"] += 1
        return b + c

    return pipeline


async def test_resume_runs_only_the_failed_task_and_its_descendants() -> None:
    ran = Counter[str]()
    broken = {"c"}
    pipeline = diamond(broken, ran)
    context = RunContext(None).with_metadata(batch="7")
    first = await pipeline.run_once(context)
    assert statuses(pipeline, first) == {"a": "SUCCESS", "b": "SUCCESS", "c": "FAILED", "d": "SKIPPED"}
    broken.clear()
    second = await pipeline.resume(first)
    assert second != first
    report = pipeline.get_run_report(second)
    assert report["status"] == "SUCCESS" and report["resumed_from"] == first
    assert report["metadata"] == {"batch": "7"}  # the earlier run's context
    assert report["tasks"]["d"]["result"] == 11 + 101
    assert report["tasks"]["a"] == pipeline.get_run_report(first)["tasks"]["a"]
    assert ran == Counter({"a": 1, "b": 1, "c": 2, "d": 1})
    assert pipeline.get_run_report(first)["status"] == "FAILED"  # the first run's report stays


async def test_resume_from_a_checkpoint_runs_it_and_what_is_downstream() -> None:
    ran = Counter[str]()
    pipeline = diamond(set(), ran)
    first = await pipeline.run_once()
    second = await pipeline.resume(first, from_tasks=["b"])
    assert pipeline.get_run_report(second)["status"] == "SUCCESS"
    assert ran == Counter({"a": 1, "b": 2, "c": 1, "d": 2})
    with pytest.raises(ValueError, match=r'unknown resume checkpoint "bb".*Did you mean "b"\?'):
        await pipeline.resume(first, from_tasks=["bb"])


async def test_resume_of_a_run_that_fully_succeeded_runs_nothing() -> None:
    ran = Counter[str]()
    pipeline = diamond(set(), ran)
    second = await pipeline.resume(await pipeline.run_once())
    assert pipeline.get_run_report(second)["status"] == "SUCCESS"
    assert ran == Counter({"a": 1, "b": 1, "c": 1, "d": 1})


async def test_overrides_replace_implementations_for_a_run() -> None:
    ran = Counter[str]()
    pipeline = diamond({"c"}, ran)
    test_pipeline = pipeline.override_tasks(a=5, c=lambda a: a * 2)
    run_id = await test_pipeline.run_once()
    report = test_pipeline.get_run_report(run_id)
    assert report["status"] == "SUCCESS"
    assert report["tasks"]["d"]["result"] == 15 + 10
    assert ran == Counter({"b": 1, "d": 1})
    with pytest.raises(UnknownRunError):
        pipeline.get_run_report(run_id)  # runs belong to the pipeline that ran them


async def test_results_that_cannot_be_stored_still_flow_and_the_report_says_so() -> None:
    pipeline = Pipeline("blobs")

    @pipeline.task()
    def make() -> Blob:
        return Blob(3)

    @pipeline.task()
    def measure(make: Blob) -> int:
        return make.size

    run_id = await pipeline.run_once()
    tasks = pipeline.get_run_report(run_id)["tasks"]
    assert isinstance(tasks["make"]["result"], Blob)
    assert tasks["make"]["result_note"].startswith("not JSON-serializable (Blob)")
    assert tasks["measure"]["result"] == 3 and "result_note" not in tasks["measure"]


class Rows(dict[str, int]):
    """A result that counts the walks through its values (what checking it can be stored as JSON does)."""

    def __init__(self, **rows: int) -> None:
        super().__init__(rows)
        self.walks = 0

    def values(self) -> Any:
        self.walks += 1
        return super().values()


async def test_a_report_checks_each_result_once_however_often_it_is_asked_for() -> None:
    pipeline = Pipeline("reports")
    rows = Rows(a=1, b=2)

    @pipeline.task()
    def make() -> Rows:
        return rows

    @pipeline.task()
    def blob() -> Blob:
        return Blob(1)

    run_id = await pipeline.run_once()
    first = pipeline.get_run_report(run_id)
    walks = rows.walks
    again = [pipeline.get_run_report(run_id) for _ in range(3)]
    assert rows.walks == walks  # not walked again
    assert all(report == first for report in again)
    assert first["tasks"]["make"]["result"] is rows and "result_note" not in first["tasks"]["make"]
    assert again[-1]["tasks"]["blob"]["result_note"].startswith("not JSON-serializable (Blob)")


async def test_invalid_pipelines_do_not_run_and_unknown_runs_are_named() -> None:
    pipeline = Pipeline("bad")

    @pipeline.task()
    def needs(missing: int) -> int:
        return missing

    with pytest.raises(ValueError, match='required parameter "missing" cannot be provided'):
        await pipeline.run_once()
    with pytest.raises(UnknownRunError, match='pipeline "bad" has no run "nope"'):
        pipeline.get_run_report("nope")


async def test_runs_start_outside_async_with_and_tasks_registered_later_are_seen() -> None:
    pipeline = Pipeline("grow")

    @pipeline.task()
    def one() -> int:
        return 1

    first = await pipeline.run_once()

    @pipeline.task()
    def two(one: int) -> int:
        return one + 1

    second = await pipeline.run_once()
    assert statuses(pipeline, first) == {"one": "SUCCESS"}
    assert pipeline.get_run_report(second)["tasks"]["two"]["result"] == 2
    await pipeline.aclose()


async def test_closing_twice_is_safe_and_a_closed_pipeline_opens_again() -> None:
    pipeline = Pipeline("close")

    @pipeline.task()
    def one() -> int:
        return 1

    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(pipeline)
        stack.push_async_exit(pipeline)  # so the stack closes it twice
        await pipeline.run_once()
        with pytest.raises(RuntimeError, match='pipeline "close" is open already'):
            async with pipeline:
                pass
    await pipeline.aclose()
    await pipeline.aclose()
    async with pipeline:
        await pipeline.aclose()  # inside: the exit that follows is fine
        assert statuses(pipeline, await pipeline.run_once()) == {"one": "SUCCESS"}


async def test_start_needs_a_running_loop() -> None:
    pipeline = Pipeline("p")

    @pipeline.task()
    def one() -> int:
        return 1

    def outside() -> None:
        with pytest.raises(RuntimeError):
            pipeline.start()

    await asyncio.get_running_loop().run_in_executor(None, outside)
