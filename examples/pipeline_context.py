"""The guide's "RunContext" section: typed dependencies, run metadata, deadlines and cooperative
cancellation."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from flowloom import Pipeline, RunContext

pipeline = Pipeline("context_demo")


@dataclass(frozen=True)
class Deps:
    api_base: str
    sink_path: str


async def call_api(api_base: str, timeout: float) -> list[dict]:  # noqa: ASYNC109 (as httpx has it)
    await asyncio.sleep(0)  # an HTTP call with its own timeout in real life
    return [{"base": api_base, "within_s": timeout <= 30.0}]


def write_rows(sink_path: str, rows: dict) -> str:
    return f"wrote {len(rows)} keys to {sink_path}"


@pipeline.task()
def pull_base(context: RunContext[Deps]) -> dict:
    return {"base": context.api_base}


@pipeline.task(timeout_s=30.0)
async def pull(context: RunContext[Deps]) -> list[dict]:
    context.raise_if_cancelled()
    timeout_s = context.time_remaining_s() or 10.0
    return await call_api(context.api_base, timeout=timeout_s)


@pipeline.task()
def transform(pull_base: dict, pull: list[dict]) -> dict:
    return {**pull_base, "rows": len(pull)}


@pipeline.task(deps=[transform])
def load(transform: dict, context: RunContext[Deps]) -> str:
    return write_rows(context.sink_path, transform)


async def main() -> None:
    deps = Deps(api_base="https://api.example", sink_path="/tmp/sink.parquet")
    context = RunContext(deps).with_metadata(
        batch_id=42,
        source="users_api",
    )
    async with pipeline:
        run_id = await pipeline.run_once(context=context)
    report = pipeline.get_run_report(run_id)
    print(report["metadata"])
    print(report["tasks"]["pull"]["result"])
    print(report["tasks"]["load"]["result"])

    # A run-wide deadline: past it the run is canceled, and tasks still running stop.
    @pipeline.task()
    async def stuck(context: RunContext[Deps]) -> None:
        await asyncio.sleep(60)

    run_id = await pipeline.run_once(context=context.with_timeout(0.2))
    report = pipeline.get_run_report(run_id)
    print(report["status"], report["tasks"]["stuck"]["error"])


asyncio.run(main())
