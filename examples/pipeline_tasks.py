"""The guide's "Pipeline", "Task Registration", "DAG-local task names" and "Dependency Injection" sections:
creating a pipeline, registering tasks, dependencies by name, by callable and inferred, and `upstream`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from flowloom import Pipeline, RunContext

pipeline = Pipeline(
    "daily_etl",
    executor=None,
    max_workers=8,
    max_parallel=4,
    logger=None,
    hooks=None,
    store=None,
)


@dataclass(frozen=True)
class Deps:
    api_base: str


async def fetch_orders(api_base: str) -> list[dict]:
    await asyncio.sleep(0)  # an HTTP call in real life
    return [{"id": 1, "source": api_base}]


@pipeline.task()
def extract() -> list[int]:
    return [1, 2, 3]


@pipeline.task(name="extract_orders", retries=2, timeout_s=10.0)
async def extract_orders(context: RunContext[Deps]) -> list[dict]:
    return await fetch_orders(context.api_base)


# If deps is omitted, required parameter names that match already-registered task names are inferred.
@pipeline.task()
def sum_values(extract: list[int]) -> int:
    return sum(extract)


# Explicit deps: clearer edges, aliases, non-identifier task names, forward references.
@pipeline.task(name="total", deps=[extract])
def total_values(extract: list[int]) -> int:
    return sum(extract)


@pipeline.task(deps=["extract_orders", "sum_values"])
def combine(upstream: dict[str, object]) -> tuple[object, object]:
    return upstream["extract_orders"], upstream["sum_values"]


# DAG-local task names: different pipelines may reuse natural names.
users = Pipeline("users")
orders = Pipeline("orders")


@users.task(name="extract")
def extract_users() -> list[str]:
    return ["ada"]


@orders.task(name="extract")
def extract_order_ids() -> list[int]:
    return [1]


async def main() -> None:
    print(pipeline.name)
    print(pipeline.tasks)
    print(pipeline.dependencies)
    pipeline.validate()
    print(pipeline.display())
    async with pipeline:
        run_id = await pipeline.run_once(context=RunContext(Deps(api_base="https://api.example")))
    report = pipeline.get_run_report(run_id)
    print(report["status"], report["tasks"]["extract_orders"]["attempt"])
    print(report["tasks"]["total"]["result"])
    print(report["tasks"]["combine"]["result"])
    print(users.list_tasks(), orders.list_tasks())


asyncio.run(main())
