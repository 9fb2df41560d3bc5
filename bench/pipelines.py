"""Code-first pipelines for the benchmarks: a chain and a fan-out of no-op tasks, async or sync.

Every task appends to ``executed`` (a list: appending is atomic, and sync tasks run on several threads),
so a run can be checked to have run each task once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowloom import Pipeline, Workers

SOURCE = "source"


def _noop(sync: bool, executed: list[None]) -> Callable[[], Any]:
    if sync:

        def task() -> None:
            executed.append(None)

        return task

    async def async_task() -> None:
        executed.append(None)

    return async_task


def chain(n: int, sync: bool, executed: list[None], workers: Workers | None = None) -> Pipeline:
    """t_0 -> t_1 -> ... -> t_{n-1}: n tasks, each after the previous one (sync tasks on ``workers``, by
    default the pipeline's own)."""
    pipeline = Pipeline(f"{'sync' if sync else 'async'} chain", workers=workers)
    previous: list[str] = []
    for i in range(n):
        name = f"t_{i}"
        pipeline.task(name, deps=previous)(_noop(sync, executed))
        previous = [name]
    return pipeline


def fan_out(n: int, sync: bool, executed: list[None], workers: Workers | None = None) -> Pipeline:
    """source -> t_0 ... t_{n-1}: n + 1 tasks, the n ready at once when the source is done."""
    pipeline = Pipeline(f"{'sync' if sync else 'async'} fan-out", workers=workers)
    pipeline.task(SOURCE, deps=[])(_noop(sync, executed))
    for i in range(n):
        pipeline.task(f"t_{i}", deps=[SOURCE])(_noop(sync, executed))
    return pipeline
