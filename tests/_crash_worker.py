"""A process of the crash tests: ``start URL RUN_ID N`` runs a chain of N count nodes recorded in the store at
URL (each node appends a line to $FLOWLOOM_TEST_COUNT_FILE); ``resume URL RUN_ID`` resumes it and prints the
outputs as JSON; ``orphans URL`` resumes every orphaned run and prints their ids and outputs."""

from __future__ import annotations

import json
import sys

import anyio

from _durable import CountExecutor, count_chain
from flowloom import Engine
from flowloom.nodes import NodeRegistry


def _engine(url: str) -> Engine:
    registry = NodeRegistry.default()
    registry.register(CountExecutor())
    return Engine(registry=registry, store=url)


async def main(command: str, url: str, *args: str) -> None:
    async with _engine(url) as engine:
        if command == "start":
            run_id, n = args
            run = engine.start(count_chain(int(n), sleep_s=0.02), {"x": 0}, run_id=run_id)
            await run.join()
        elif command == "resume":
            run = await engine.resume(args[0])
            await run.join()
            print(json.dumps({"status": str(run.status), "outputs": run.outputs}))
        else:
            runs = await engine.resume_orphans()
            for run in runs:
                await run.join()
            print(json.dumps({run.id: run.outputs for run in runs}))


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:])
