"""The guide's "Polars and validation" pattern with the standard library (no Polars needed), and its
"Validation Rules": async extraction, a pure transform, validation that splits accepted and rejected rows,
a quarantine sink, a final join; thin task wrappers; then what `validate()` catches."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from flowloom import Pipeline, RunContext
from flowloom.pipeline import InvalidPipelineError

# Business logic: plain functions, unit-testable without flowloom.


def to_cents(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{**row, "cents": round(float(str(row["amount"])) * 100)} for row in rows]


def split_valid(rows: list[dict[str, object]]) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    accepted = [row for row in rows if isinstance(row["cents"], int) and row["cents"] > 0]
    rejected = [row for row in rows if row not in accepted]
    return accepted, rejected


@dataclass(frozen=True)
class Deps:
    quarantine: list[dict[str, object]]


pipeline = Pipeline("orders_quality", max_parallel=2)


@pipeline.task(retries=2, timeout_s=5.0)
async def extract_orders() -> list[dict[str, object]]:
    await asyncio.sleep(0)  # an API call in real life
    return [{"id": 1, "amount": "12.50"}, {"id": 2, "amount": "-3"}, {"id": 3, "amount": "7"}]


@pipeline.task()
def transform(extract_orders: list[dict[str, object]]) -> list[dict[str, object]]:
    return to_cents(extract_orders)


@pipeline.task()
def validate_rows(transform: list[dict[str, object]]) -> dict[str, list[dict[str, object]]]:
    accepted, rejected = split_valid(transform)
    return {"accepted": accepted, "rejected": rejected}


@pipeline.task()
def quarantine(validate_rows: dict[str, list[dict[str, object]]], context: RunContext[Deps]) -> int:
    context.quarantine.extend(validate_rows["rejected"])
    return len(validate_rows["rejected"])


@pipeline.task(deps=["validate_rows", "quarantine"])
def summary(upstream: dict[str, object]) -> str:
    checked = upstream["validate_rows"]
    assert isinstance(checked, dict)
    total = sum(int(row["cents"]) for row in checked["accepted"])
    return f"{len(checked['accepted'])} accepted ({total} cents), {upstream['quarantine']} quarantined"


async def main() -> None:
    quarantined: list[dict[str, object]] = []
    async with pipeline:
        run_id = await pipeline.run_once(RunContext(Deps(quarantine=quarantined)))
    print(pipeline.get_run_report(run_id)["tasks"]["summary"]["result"])
    print("quarantine:", [row["id"] for row in quarantined])

    # What validation catches, before anything runs.
    broken = Pipeline("broken")

    @broken.task(deps=["extract_order"])
    def parse(extract_order: list[int]) -> list[int]:
        return extract_order

    @broken.task(deps=["store"])
    def store(parse: list[int]) -> None:
        pass

    @broken.task()
    def report(parse: list[int], sumary: int) -> None:
        pass

    try:
        broken.validate()
    except InvalidPipelineError as exc:  # a ValueError
        for error in exc.errors:
            print(error)


asyncio.run(main())
