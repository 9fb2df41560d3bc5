"""The guide's "Resume And Subgraphs" section: run one branch; resume a failed run keeping what succeeded;
resume from a checkpoint task and everything downstream of it."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass

from flowloom import Pipeline, RunContext

pipeline = Pipeline("etl")
executions: Counter[str] = Counter()


@dataclass(frozen=True)
class Deps:
    flaky_source_up: bool


@pipeline.task()
def extract() -> list[int]:
    executions["extract"] += 1
    return [1, 2, 3]


@pipeline.task()
def transform(extract: list[int], context: RunContext[Deps]) -> list[int]:
    executions["transform"] += 1
    if not context.flaky_source_up:
        raise ConnectionError("source is down")
    return [value * 10 for value in extract]


@pipeline.task()
def load(transform: list[int]) -> str:
    executions["load"] += 1
    return f"loaded {sum(transform)}"


@pipeline.task()
def audit(extract: list[int]) -> int:
    executions["audit"] += 1
    return len(extract)


def summary(run_id: str) -> str:
    report = pipeline.get_run_report(run_id)
    tasks = ", ".join(f"{name}={task['status']}" for name, task in report["tasks"].items())
    return f"{report['status']}: {tasks}"


async def main() -> None:
    context = RunContext(Deps(flaky_source_up=True))
    async with pipeline:
        # Run only one target branch and its transitive dependencies.
        run_id = await pipeline.run_subgraph(["load"], context=context)
        print(summary(run_id))

        old_run_id = await pipeline.run_once(context=RunContext(Deps(flaky_source_up=False)))
        print(summary(old_run_id))

        # Resume a previous run while preserving successful upstream tasks.
        new_run_id = await pipeline.resume(old_run_id, context=context)
        print(summary(new_run_id))
        print(pipeline.get_run_report(new_run_id)["tasks"]["load"]["result"])

        # Resume from a checkpoint task and all downstream dependents.
        new_run_id = await pipeline.resume(
            old_run_id,
            from_tasks=["transform"],
            context=context,
        )
        print(summary(new_run_id))
        print(dict(sorted(executions.items())))

        try:
            await pipeline.resume(old_run_id, from_tasks=["transfrom"], context=context)
        except ValueError as exc:
            print(f"ValueError: {exc}")


asyncio.run(main())
