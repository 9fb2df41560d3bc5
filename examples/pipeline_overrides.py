"""The guide's "Pipeline Overrides For Tests" and "Testing Your DAGs": replace task implementations
(constants or callables) while keeping the graph, then assert on the report."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from flowloom import Pipeline, RunContext

pipeline = Pipeline("orders_etl")


@dataclass(frozen=True)
class Deps:
    api_base: str


@pipeline.task()
async def extract(context: RunContext[Deps]) -> list[dict[str, int]]:
    raise ConnectionError(f"no network in tests ({context.api_base})")


@pipeline.task()
def transform(extract: list[dict[str, int]]) -> dict[str, int]:
    return {"rows": len(extract), "total": sum(row["amount"] for row in extract)}


@pipeline.task()
def load(transform: dict[str, int]) -> str:
    return f"would write {transform}"


async def main() -> None:
    assert pipeline.tasks == ("extract", "transform", "load")
    assert pipeline.dependencies == {"extract": (), "transform": ("extract",), "load": ("transform",)}
    context = RunContext(Deps(api_base="https://api.example"))

    test_pipeline = pipeline.override_tasks(
        extract=[{"id": 1, "amount": 10}],
    )

    run_id = await test_pipeline.run_once(context=context)
    report = test_pipeline.get_run_report(run_id)
    print(report["status"], report["tasks"]["load"]["result"])

    # A callable override is given its dependencies as the task was.
    dry_run = pipeline.override_tasks(
        extract=[{"id": 1, "amount": 5}], load=lambda transform: transform["total"]
    )
    report = dry_run.get_run_report(await dry_run.run_once(context=context))
    print(report["status"], report["tasks"]["load"]["result"])

    # The original pipeline is unchanged.
    report = pipeline.get_run_report(await pipeline.run_once(context=context))
    print(report["status"], report["tasks"]["extract"]["error"])


asyncio.run(main())
