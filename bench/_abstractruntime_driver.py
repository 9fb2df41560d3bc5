"""Runs one VisualFlow on AbstractRuntime 0.13.0 and times it; executed by ``bench/visualflow.py`` with the
Python of a scratch environment where AbstractRuntime is installed (never imported by flowloom).

    python _abstractruntime_driver.py FLOW.json INPUTS_JSON REPEATS

The flow is loaded and compiled once (``load_visualflow_json`` -> ``visual_to_flow`` -> ``compile_flow``;
not timed), then each timed run is ``Runtime.start`` and ``tick`` until the run is no longer running, on
in-memory run and ledger stores. Prints one JSON object: the run times in seconds, the status and output of
the last run.

AbstractRuntime evaluates a chain of pure nodes recursively: at Python's default recursion limit a chain of
1,000 fails with "maximum recursion depth exceeded". The driver raises the limit and runs on a thread with a
large stack, so the chain can be measured at all."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from abstractruntime import InMemoryLedgerStore, InMemoryRunStore, Runtime
from abstractruntime.visualflow_compiler.compiler import compile_flow
from abstractruntime.visualflow_compiler.visual.executor import visual_to_flow
from abstractruntime.visualflow_compiler.visual.models import load_visualflow_json

_MAX_STEPS = 1_000_000
_RECURSION_LIMIT = 100_000
_STACK_BYTES = 512 * 1024 * 1024


def main(flow_path: str, inputs_text: str, repeats_text: str) -> None:
    visual = load_visualflow_json(json.loads(Path(flow_path).read_text(encoding="utf-8")))
    spec = compile_flow(visual_to_flow(visual))
    inputs = json.loads(inputs_text)
    times: list[float] = []
    state = None
    for _ in range(int(repeats_text)):
        runtime = Runtime(run_store=InMemoryRunStore(), ledger_store=InMemoryLedgerStore())
        began = time.perf_counter()
        run_id = runtime.start(workflow=spec, vars=dict(inputs))
        state = runtime.tick(workflow=spec, run_id=run_id, max_steps=_MAX_STEPS)
        while state.status.value == "running":
            state = runtime.tick(workflow=spec, run_id=run_id, max_steps=_MAX_STEPS)
        times.append(time.perf_counter() - began)
    assert state is not None
    print(json.dumps({"times_s": times, "status": state.status.value, "output": state.output}, default=str))


if __name__ == "__main__":
    sys.setrecursionlimit(_RECURSION_LIMIT)
    threading.stack_size(_STACK_BYTES)
    failed: list[BaseException] = []

    def _run() -> None:
        try:
            main(*sys.argv[1:])
        except BaseException as exc:  # reported by the exit status below
            failed.append(exc)
            raise

    worker = threading.Thread(target=_run)
    worker.start()
    worker.join()
    sys.exit(1 if failed else 0)
