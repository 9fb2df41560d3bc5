"""A process of the pipeline store tests: ``run URL`` runs the diamond a -> (b, c) -> d recorded in the
SQLite store at URL (with ``$FAIL_TASK`` failing) and prints the run id; ``resume URL RUN_ID`` resumes that
run here and prints the new run's report as JSON. Every task execution appends its name to
``$FLOWLOOM_TEST_COUNT_FILE``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio

from flowloom import Pipeline
from flowloom.stores import SqlStore


def build(store: SqlStore) -> Pipeline:
    pipeline = Pipeline("diamond", store=store)
    log = Path(os.environ["FLOWLOOM_TEST_COUNT_FILE"])

    def ran(name: str) -> None:
        with log.open("a", encoding="utf-8") as file:
            file.write(name + "\n")
        if os.environ.get("FAIL_TASK") == name:
            raise RuntimeError(f"{name} failed on purpose")

    @pipeline.task()
    def a() -> int:
        ran("a")
        return 1

    @pipeline.task()
    async def b(a: int) -> int:
        ran("b")
        return a + 10

    @pipeline.task()
    def c(a: int) -> int:
        ran("c")
        return a + 100

    @pipeline.task()
    def d(b: int, c: int) -> dict[str, int]:
        ran("d")
        return {"sum": b + c}

    return pipeline


async def main(command: str, url: str, *args: str) -> None:
    async with SqlStore(url) as store, build(store) as pipeline:
        if command == "run":
            print(await pipeline.run_once())
        else:
            new_id = await pipeline.resume(args[0])
            print(json.dumps(pipeline.get_run_report(new_id)))


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:])
