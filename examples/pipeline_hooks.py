"""The guide's "Hooks" section: small synchronous callbacks on run and task events."""

from __future__ import annotations

import asyncio

from flowloom import Pipeline, RunHook, fn_hook
from flowloom.pipeline import TaskRetryEvent, TaskSkipEvent

hook = fn_hook(
    on_task_failure=lambda event: print(f"FAIL {event.task_name}: {event.error}"),
    on_dag_end=lambda event: print(f"DONE {event.dag_name}"),
)


class Metrics(RunHook):
    """A hook class: override the events you need."""

    def on_task_retry(self, event: TaskRetryEvent) -> None:
        print(f"RETRY {event.task_name} attempt {event.next_attempt}/{event.max_attempts}")

    def on_task_skip(self, event: TaskSkipEvent) -> None:
        print(f"SKIP {event.task_name} ({event.reason})")


pipeline = Pipeline("etl", hooks=[hook, Metrics()])
attempts = 0


@pipeline.task(retries=1)
async def extract() -> list[int]:
    global attempts
    attempts += 1
    if attempts == 1:
        raise ConnectionError("timeout talking to the API")
    return [1, 2]


@pipeline.task()
def transform(extract: list[int]) -> int:
    raise ValueError(f"bad rows: {extract}")


@pipeline.task()
def load(transform: int) -> None:
    pass


asyncio.run(pipeline.run_once())
