"""flowengine's Python SDK: a 3-task ``flow.run`` in this process (each run builds its engine, the
functions run on the engine's threads), against the same flow saved and run by ``flowloom run`` (a process,
and a ``python3 -c`` per task).

    uv run python bench/flowengine_sdk.py [--quick]

Reported: the first in-process run (imports included), then the median of the warm runs of each side."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from flowloom.flowengine import Flow, task


@task()
def increment(n: int) -> int:
    return n + 1


@task()
def double(n: int) -> int:
    return n * 2


@task()
def describe(n: int) -> str:
    return f"n={n}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    runs = 5 if parser.parse_args().quick else 30
    flow = Flow("bench")
    flow >> increment >> double >> describe
    started = time.perf_counter()
    assert flow.run(n=1) == "n=4"
    first_ms = (time.perf_counter() - started) * 1000
    here = []
    for _ in range(runs):
        started = time.perf_counter()
        flow.run(n=1)
        here.append((time.perf_counter() - started) * 1000)
    work = Path(tempfile.mkdtemp(prefix="fe-sdk-bench-"))
    flow.save(work / "flow.json")
    (work / "in.json").write_text(json.dumps({"n": 1}))
    command = [
        str(Path(sys.executable).with_name("flowloom")),
        "run",
        "flow.json",
        "--inputs",
        "@in.json",
        "--json",
    ]
    cli = []
    for _ in range(max(runs // 6, 3)):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=work, capture_output=True, text=True, check=True)
        cli.append((time.perf_counter() - started) * 1000)
        assert json.loads(done.stdout)["outputs"]["describe"]["output"] == "n=4"
    print(f"flowengine SDK, 3 Python tasks: first flow.run {first_ms:.0f} ms")
    print(f"  flow.run in this process (warm, median of {len(here)}): {statistics.median(here):.1f} ms")
    print(f"  the saved flow by `flowloom run` (median of {len(cli)}):  {statistics.median(cli):.0f} ms")


if __name__ == "__main__":
    main()
