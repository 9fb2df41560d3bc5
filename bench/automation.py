"""The automation nodes' overhead: a chain of 100 ``shell.exec`` nodes running ``true`` against the same
100 processes spawned bare with asyncio (target: at most 1.3x), and one ``shell.exec`` streaming 100,000
lines to a ``flowloom run --jsonl`` consumer (target: at least 100,000 lines/s).

    uv run python bench/automation.py            # 5 interleaved repeats
    uv run python bench/automation.py --quick    # smoke: 1 repeat, 10,000 lines

Exit status 1 when a run fails or gives wrong results; a missed target prints MISS and is not fatal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import flowloom

CHAIN_N = 100
LINES = 100_000
CHAIN_TARGET = 1.3
LINES_TARGET = 100_000.0


def shell_chain(n: int) -> dict[str, Any]:
    nodes = [{"id": f"n{i}", "node_type": "shell.exec", "config": {"command": "true"}} for i in range(n)]
    connections = [
        {"from_node": f"n{i}", "from_port": "stdout", "to_node": f"n{i + 1}", "to_port": "prev"}
        for i in range(n - 1)
    ]
    return {"name": "shell-chain", "nodes": nodes, "connections": connections}


async def bare(n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        process = await asyncio.create_subprocess_exec(
            "true", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        await process.communicate()
        if process.returncode != 0:
            raise SystemExit("FAIL: true exited non-zero")
    return time.perf_counter() - started


async def chain(repeats: int) -> bool:
    engine = flowloom.Engine()
    compiled = engine.load(shell_chain(CHAIN_N), format="flowengine")
    flows: list[float] = []
    bares: list[float] = []
    async with engine:
        await engine.run(compiled, {})  # warm-up
        await bare(CHAIN_N)
        for _ in range(repeats):  # interleaved: the machine's load hits both alike
            started = time.perf_counter()
            run = await engine.run(compiled, {})
            flows.append(time.perf_counter() - started)
            if run.status != "succeeded":
                print(f"FAIL: the shell chain ended {run.status}: {run.error}")
                return False
            bares.append(await bare(CHAIN_N))
    flow, raw = statistics.median(flows), statistics.median(bares)
    ratio = flow / raw
    verdict = "ok" if ratio <= CHAIN_TARGET else "MISS"
    print(
        f"shell chain x{CHAIN_N}: flowloom {flow * 1000:.1f} ms, bare asyncio {raw * 1000:.1f} ms, "
        f"ratio {ratio:.2f}x (target <= {CHAIN_TARGET}x) {verdict}"
    )
    return True


def stream(lines: int) -> bool:
    workflow = {
        "nodes": [
            {
                "id": "s",
                "node_type": "shell.exec",
                "config": {"command": "seq", "args": ["1", str(lines)], "stream_output": True},
            }
        ]
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "stream.json")
        path.write_text(json.dumps(workflow))
        command = [str(Path(sys.executable).with_name("flowloom")), "run", str(path), "--jsonl", "--no-store"]
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        count, first, last, result = 0, 0.0, 0.0, None
        for text in process.stdout:
            event = json.loads(text)
            if event.get("type") == "NodeLog":
                count += 1
                last = time.perf_counter()
                first = first or last
            elif "nodes" in event:
                result = event
        wall = time.perf_counter() - started
        process.wait()
    if count != lines or result is None or result["status"] != "succeeded":
        print(f"FAIL: {count} NodeLog lines of {lines}; result {result and result['status']}")
        return False
    rate = lines / max(last - first, 1e-9)
    verdict = "ok" if rate >= LINES_TARGET else "MISS"
    print(
        f"stream {lines:,} lines to --jsonl: {rate:,.0f} lines/s while streaming "
        f"({lines / wall:,.0f} lines/s over the whole {wall:.2f} s CLI run, start-up included) "
        f"(target >= {LINES_TARGET:,.0f}) {verdict}"
    )
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke mode")
    quick = parser.parse_args().quick
    ok = asyncio.run(chain(1 if quick else 5))
    ok = stream(10_000 if quick else LINES) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
