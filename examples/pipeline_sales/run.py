import asyncio

from . import extract, load, transform  # noqa: F401
from .runtime import pipeline


async def main() -> None:
    async with pipeline:
        run_id = await pipeline.run_once()
        print(pipeline.get_run_report(run_id)["status"])
        print(pipeline.get_run_report(run_id)["tasks"]["load_summary"]["result"])


asyncio.run(main())
