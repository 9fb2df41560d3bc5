"""The guide's "Run Reports" section: `get_run_report` returns a plain dictionary (ids and times are
replaced here so the printout matches the guide)."""

from __future__ import annotations

import asyncio
from pprint import pprint

from flowloom import Pipeline, RunContext

pipeline = Pipeline("etl")


@pipeline.task()
def extract() -> list[int]:
    return []


async def main() -> None:
    run_id = await pipeline.run_once(RunContext(None).with_metadata(batch_id=42))
    report = pipeline.get_run_report(run_id)
    report |= {"run_id": "...", "created_at": 0.0, "finished_at": 0.0}
    for task in report["tasks"].values():
        task |= {"started_at": 0.0, "finished_at": 0.0}
    pprint(report, sort_dicts=False)


asyncio.run(main())
