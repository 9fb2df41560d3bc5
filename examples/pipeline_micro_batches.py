"""The guide's "Sequential micro-batches": chunks come from outside the DAG; the same pipeline runs once
per chunk, and one failed chunk does not stop the rest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from flowloom import Pipeline, RunContext

pipeline = Pipeline("users_batches")


@dataclass(frozen=True)
class ChunkDeps:
    chunk_index: int
    rows: list[dict[str, int]]


@pipeline.task()
def validate(context: RunContext[ChunkDeps]) -> list[dict[str, int]]:
    negative = [row for row in context.rows if row["value"] < 0]
    if negative:
        raise ValueError(f"chunk {context.chunk_index} has negative values: {negative}")
    return context.rows


@pipeline.task()
def total(validate: list[dict[str, int]]) -> int:
    return sum(row["value"] for row in validate)


async def chunk_contexts() -> AsyncIterator[RunContext[ChunkDeps]]:
    for chunk_index in range(3):
        rows = [{"value": chunk_index * 10 + offset} for offset in range(3)]
        if chunk_index == 1:
            rows[0]["value"] = -1  # a bad chunk: its run fails, the others go on
        yield RunContext(ChunkDeps(chunk_index=chunk_index, rows=rows)).with_metadata(
            batch_id=chunk_index,
            source="users_api",
        )


async def main() -> None:
    async with pipeline:
        run_ids = await pipeline.run_many(chunk_contexts())
    for run_id in run_ids:
        report = pipeline.get_run_report(run_id)
        print(report["metadata"]["batch_id"], report["status"], report["tasks"]["total"]["result"])


asyncio.run(main())
