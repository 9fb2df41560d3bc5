"""Hooks: the order of run and task events, what each event carries, hooks that raise, and logging."""

from __future__ import annotations

import logging
from collections import Counter

import anyio
import pytest

from flowloom import Pipeline, RunContext, RunHook, fn_hook
from flowloom.pipeline import (
    DagEndEvent,
    DagStartEvent,
    HookEvent,
    TaskFailureEvent,
    TaskRetryEvent,
    TaskSkipEvent,
    TaskStartEvent,
    TaskSuccessEvent,
)

pytestmark = pytest.mark.anyio


class Recorder(RunHook):
    def __init__(self) -> None:
        self.events: list[HookEvent] = []

    def on_dag_start(self, event: DagStartEvent) -> None:
        self.events.append(event)

    def on_dag_end(self, event: DagEndEvent) -> None:
        self.events.append(event)

    def on_task_start(self, event: TaskStartEvent) -> None:
        self.events.append(event)

    def on_task_success(self, event: TaskSuccessEvent) -> None:
        self.events.append(event)

    def on_task_failure(self, event: TaskFailureEvent) -> None:
        self.events.append(event)

    def on_task_retry(self, event: TaskRetryEvent) -> None:
        self.events.append(event)

    def on_task_skip(self, event: TaskSkipEvent) -> None:
        self.events.append(event)

    def trace(self) -> list[str]:
        names = {
            DagStartEvent: "dag_start",
            DagEndEvent: "dag_end",
            TaskStartEvent: "start",
            TaskSuccessEvent: "success",
            TaskFailureEvent: "failure",
            TaskRetryEvent: "retry",
            TaskSkipEvent: "skip",
        }
        return [
            names[type(e)] + (f" {e.task_name}" if hasattr(e, "task_name") else "")  # type: ignore[attr-defined]
            for e in self.events
        ]


def chain_with_failure(
    hooks: list[RunHook], calls: Counter[str], logger: logging.Logger | None = None
) -> Pipeline:
    """extract -> flaky (fails once, retried) -> broken (fails) -> load (skipped)."""
    pipeline = Pipeline("etl", hooks=hooks, logger=logger)

    @pipeline.task()
    def extract() -> list[int]:
        return [1, 2]

    @pipeline.task(retries=1)
    async def flaky(extract: list[int]) -> int:
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise ConnectionError("blip")
        return sum(extract)

    @pipeline.task()
    def broken(flaky: int) -> int:
        raise ValueError(f"cannot handle {flaky}")

    @pipeline.task()
    def load(broken: int) -> None:
        pass

    return pipeline


async def test_hook_events_come_in_order_with_their_details() -> None:
    recorder = Recorder()
    pipeline = chain_with_failure([recorder], Counter())
    context = RunContext(None).with_metadata(batch=1)
    run_id = await pipeline.run_once(context)
    assert recorder.trace() == [
        "dag_start",
        "start extract",
        "success extract",
        "start flaky",
        "retry flaky",
        "start flaky",
        "success flaky",
        "start broken",
        "failure broken",
        "skip load",
        "dag_end",
    ]
    events = recorder.events
    assert all(e.run_id == run_id and e.dag_name == "etl" for e in events)
    assert [e.at for e in events] == sorted(e.at for e in events)
    start, extract_ok, retry, flaky_ok, failure, skip, end = (events[i] for i in (0, 2, 4, 6, 8, 9, 10))
    assert isinstance(start, DagStartEvent) and start.metadata == {"batch": 1}
    assert (
        isinstance(extract_ok, TaskSuccessEvent) and extract_ok.result == [1, 2] and extract_ok.attempt == 1
    )
    starts = [(e.task_name, e.attempt) for e in events if isinstance(e, TaskStartEvent)]
    assert starts == [("extract", 1), ("flaky", 1), ("flaky", 2), ("broken", 1)]  # one per attempt
    assert isinstance(retry, TaskRetryEvent)
    assert (retry.attempt, retry.next_attempt, retry.max_attempts) == (1, 2, 2)
    assert retry.error == "ConnectionError: blip" and retry.delay_s == 0
    assert isinstance(flaky_ok, TaskSuccessEvent) and flaky_ok.attempt == 2 and flaky_ok.result == 3
    assert isinstance(failure, TaskFailureEvent) and failure.error == "ValueError: cannot handle 3"
    assert isinstance(failure.exception, ValueError)
    assert isinstance(skip, TaskSkipEvent) and skip.task_name == "load" and skip.reason == "upstream_failed"
    assert isinstance(end, DagEndEvent) and end.status == "FAILED" and end.duration_s >= 0


async def test_fn_hook_calls_only_the_functions_it_was_given() -> None:
    seen: list[str] = []
    hook = fn_hook(
        on_task_failure=lambda event: seen.append(f"FAIL {event.task_name}: {event.error}"),
        on_dag_end=lambda event: seen.append(f"DONE {event.dag_name}"),
    )
    pipeline = chain_with_failure([hook], Counter())
    await pipeline.run_once()
    assert seen == ["FAIL broken: ValueError: cannot handle 3", "DONE etl"]
    assert repr(hook) == "fn_hook(on_dag_end, on_task_failure)"


async def test_a_hook_that_raises_is_logged_and_the_run_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    bad = fn_hook(on_task_start=lambda event: 1 / 0, on_dag_end=lambda event: [][0])
    calls = Counter[str]()
    pipeline = chain_with_failure([bad, recorder], calls)
    with caplog.at_level(logging.ERROR, logger="flowloom.pipeline"):
        run_id = await pipeline.run_once()
    assert pipeline.get_run_report(run_id)["tasks"]["flaky"]["status"] == "SUCCESS"
    assert recorder.trace()[-1] == "dag_end"  # hooks after the failing one still get every event
    failures = [r for r in caplog.records if "failed in" in r.getMessage()]
    assert {r.getMessage().split(" failed in ")[1] for r in failures} == {
        "on_task_start (the run goes on)",
        "on_dag_end (the run goes on)",
    }
    assert all(r.exc_info is not None for r in failures)


async def test_cancelled_tasks_are_reported_to_hooks_as_failures() -> None:
    recorder = Recorder()
    pipeline = Pipeline("cancel", hooks=[recorder])
    started = anyio.Event()

    @pipeline.task()
    async def hang() -> None:
        started.set()
        await anyio.sleep_forever()

    handle = pipeline.start()
    await started.wait()
    handle.cancel()
    await handle.wait()
    assert recorder.trace() == ["dag_start", "start hang", "failure hang", "dag_end"]
    failure, end = recorder.events[2], recorder.events[3]
    assert isinstance(failure, TaskFailureEvent) and failure.error == "run was canceled"
    assert isinstance(end, DagEndEvent) and end.status == "FAILED" and end.error == "run was canceled"


class RunEnds:
    """Not a RunHook: an object with the one hook method it needs."""

    def __init__(self) -> None:
        self.statuses: list[str] = []

    def on_dag_end(self, event: DagEndEvent) -> None:
        self.statuses.append(event.status)


async def test_hooks_may_be_one_hook_or_objects_with_hook_methods(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    ends = RunEnds()
    one = Pipeline("one", hooks=recorder)
    duck = Pipeline("duck", hooks=[ends])  # type: ignore[list-item]
    for pipeline in (one, duck):

        @pipeline.task()
        def only() -> int:
            return 1

    with caplog.at_level(logging.ERROR, logger="flowloom.pipeline"):
        await one.run_once()
        await duck.run_once()
    assert recorder.trace() == ["dag_start", "start only", "success only", "dag_end"]
    assert ends.statuses == ["SUCCESS"]
    assert caplog.records == []  # the methods RunEnds lacks are not errors


def test_what_is_not_a_hook_is_refused_when_the_pipeline_is_made() -> None:
    with pytest.raises(TypeError, match=r"not the class Recorder: pass Recorder\(\)"):
        Pipeline("p", hooks=[Recorder])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"<built-in function print> is not a hook: .*fn_hook\(\.\.\.\)"):
        Pipeline("p", hooks=[print])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="hooks must be a hook or a list of hooks"):
        Pipeline("p", hooks=3)  # type: ignore[arg-type]


async def test_the_logger_gets_levels_by_event(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.pipeline.etl")
    pipeline = chain_with_failure([], Counter(), logger)
    with caplog.at_level(logging.DEBUG, logger="test.pipeline.etl"):
        await pipeline.run_once()
    lines = [(r.levelname, r.getMessage().split("  ")[0]) for r in caplog.records if r.name == logger.name]
    assert lines == [
        ("INFO", "DAG 'etl' started"),
        ("DEBUG", "Launching task 'extract'"),
        ("INFO", "Task 'extract' succeeded"),
        ("DEBUG", "Launching task 'flaky'"),
        ("INFO", "Retrying task 'flaky'"),
        ("DEBUG", "Launching task 'flaky'"),
        ("INFO", "Task 'flaky' succeeded"),
        ("DEBUG", "Launching task 'broken'"),
        ("WARNING", "Task 'broken' failed"),
        ("INFO", "Skipping task 'load'"),
        ("INFO", "DAG 'etl' finished"),
    ]
