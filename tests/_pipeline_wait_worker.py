"""A process of the pipeline wait tests: ``run URL`` runs the pipeline below (recorded in the store at URL)
until it waits, prints its report as JSON and exits; ``answer URL RUN_ID PAYLOAD [KEY]`` answers it here and
prints the report of the run, or the refusal as ``{"refused": message}``. Every task execution appends its
name to ``$FLOWLOOM_TEST_COUNT_FILE``.

extract -> approve (sync: asks "ship?" with choices) -> ship (async: asks "note?") -> report
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio

from flowloom import Pipeline, RunContext, WaitError
from flowloom.stores import SqlStore


def build(store: SqlStore) -> Pipeline:
    pipeline = Pipeline("shipping", store=store)
    log = Path(os.environ["FLOWLOOM_TEST_COUNT_FILE"])

    def ran(name: str) -> None:
        with log.open("a", encoding="utf-8") as file:
            file.write(name + "\n")

    @pipeline.task()
    def extract() -> list[int]:
        ran("extract")
        return [1, 2, 3]

    @pipeline.task()
    def approve(extract: list[int], context: RunContext[None]) -> bool:
        ran("approve")
        try:
            answer = context.wait_for_input(
                "ship", prompt=f"ship {len(extract)} orders?", choices=["yes", "no"]
            )
        except Exception:  # a task's own broad except does not swallow the wait
            return False
        return bool(answer == "yes")

    @pipeline.task()
    async def ship(approve: bool, context: RunContext[None]) -> dict[str, Any]:
        ran("ship")
        note = context.wait_for_input("note", prompt="a note?")
        return {"shipped": approve, "note": note}

    @pipeline.task()
    def report(ship: dict[str, Any]) -> str:
        ran("report")
        return f"{ship['shipped']}: {ship['note']}"

    return pipeline


async def main(command: str, url: str, *args: str) -> None:
    async with SqlStore(url) as store, build(store) as pipeline:
        if command == "run":
            run_id = await pipeline.run_once()
            print(json.dumps(pipeline.get_run_report(run_id)))
            return
        run_id, payload, *key = args
        try:
            resumed = await pipeline.resume(run_id, payload=json.loads(payload), key=key[0] if key else None)
        except WaitError as exc:
            print(json.dumps({"refused": str(exc)}))
            return
        print(json.dumps(pipeline.get_run_report(resumed)))


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:])
