import asyncio

from flowloom import Pipeline

from . import orders, users


def build_sales_pipeline() -> Pipeline:
    pipeline = Pipeline("sales", max_workers=4, max_parallel=3)

    users.register(pipeline.task)
    orders.register(pipeline.task)

    return pipeline


async def main() -> None:
    pipeline = build_sales_pipeline()  # a fresh pipeline each time: tests can build their own
    async with pipeline:
        run_id = await pipeline.run_once()
    report = pipeline.get_run_report(run_id)
    print(pipeline.list_tasks())
    print(report["status"], report["tasks"]["orders_per_user"]["result"])


if __name__ == "__main__":
    asyncio.run(main())
