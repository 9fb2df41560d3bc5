"""flowloom engine overhead benchmarks: microseconds per node for standard workloads, against targets, and
microseconds per task for code-first pipelines.

    uv run python bench/run.py            # full run (N = 100, 1,000, 10,000; a 100,000-node chain)
    uv run python bench/run.py --quick    # smoke mode: N = 100 for everything, 2 repeats

Exit status: 0 when every run succeeded with the right outputs (a missed *target* is reported, not fatal),
1 when any run failed or produced wrong outputs. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import _quickjs as quickjs  # the binding's C module, as flowloom uses it (its package starts a thread)
import cluster
import pipelines
import recording
import threads
import ui
import workflows
from workflows import Json, PassExecutor

import flowloom
from flowloom.engine import CompiledWorkflow
from flowloom.ir import RunStore
from flowloom.stores import SqlStore
from flowloom.testing import HttpEchoServer

START_X = 1  # the run input: {"x": 1}
SIZES = (100, 1_000, 10_000)
REPEATS = 11  # a 2-core VM is noisy: more runs keep the median steady
BIG_N = 100_000
QUICK_N = 100
QUICK_REPEATS = 2
LINEAR_MAX = 1.5  # per-node cost at the largest N may be at most this multiple of that at the smallest
COLD_START_MS = 300.0


@dataclass(frozen=True, slots=True)
class Workload:
    """A workflow family measured at several sizes, and what a correct run of it looks like."""

    name: str
    build: Callable[[int], Json]
    target_us: float | None  # None: the target is only to complete
    upstream: str  # @flowgram.ai/runtime-js 1.0.9 for scale
    expect_x: Callable[[int], int]  # the end's output x for size n
    pass_calls: bool  # every bench-pass node runs once per run
    branch_prefix: str | None = None  # ids of conditions that must each run once and take if_0
    linear: bool = True  # the linearity target applies


WORKLOADS = (
    Workload("chain", workflows.chain, 10.0, "~15", lambda n: START_X, pass_calls=True),
    Workload("fan-out", workflows.fan_out, 15.0, "-", lambda n: START_X, pass_calls=True),
    Workload(
        "condition chain",
        workflows.condition_chain,
        15.0,
        "80-230 (quadratic)",
        lambda n: START_X,
        pass_calls=False,
        branch_prefix="cond_",
    ),
    Workload(
        "js code chain",
        workflows.js_chain,
        250.0,
        "~340",
        lambda n: n + START_X,
        pass_calls=False,
        linear=False,
    ),
)
BIG_CHAIN = Workload("big chain", workflows.chain, None, "-", lambda n: START_X, pass_calls=True)
EMPTY = Workload(
    "start-end", lambda n: workflows.two_node(START_X), None, "-", lambda n: START_X, pass_calls=False
)
FIXED_COST_REPEATS = 50
SERVICE_SIZES = (100, 1_000)
PYTHON_CHAIN = Workload(
    "python code chain",
    workflows.python_chain,
    300.0,
    "- (PyPI port ~800)",
    lambda n: n + START_X,
    pass_calls=False,
    linear=False,
)


PIPELINE_N = 1_000


@dataclass(frozen=True, slots=True)
class PipelineWorkload:
    """A code-first pipeline of no-op tasks: ``build(n, sync, executed)`` and how many tasks it has."""

    name: str
    build: Callable[[int, bool, list[None]], flowloom.Pipeline]
    sync: bool
    target_us: float
    tasks: Callable[[int], int]
    upstream: str = "-"


PIPELINE_WORKLOADS = (
    PipelineWorkload("pipeline async chain", pipelines.chain, False, 15.0, lambda n: n),
    PipelineWorkload("pipeline async fan-out", pipelines.fan_out, False, 15.0, lambda n: n + 1),
    PipelineWorkload("pipeline sync chain", pipelines.chain, True, 40.0, lambda n: n),
    PipelineWorkload("pipeline sync fan-out", pipelines.fan_out, True, 40.0, lambda n: n + 1),
)


def http_chain_workload(base_url: str) -> Workload:
    """A chain of GETs to the local echo server: network-bound, reported for scale (no target)."""
    return Workload(
        "http chain",
        lambda n: workflows.http_chain(n, base_url),
        None,
        "-",
        lambda n: START_X,
        pass_calls=False,
        linear=False,
    )


@dataclass(slots=True)
class Row:
    """One measured (workload, N): run wall times in seconds and anything wrong with the runs."""

    workload: Workload | PipelineWorkload
    n: int
    nodes: int  # or tasks, for a pipeline
    seconds: list[float] = field(default_factory=list)
    load_seconds: float = 0.0
    problem: str | None = None

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    @property
    def us_per_node(self) -> float:
        return self.median_s / self.nodes * 1e6


@dataclass(slots=True)
class ProcessTiming:
    label: str
    seconds: list[float] = field(default_factory=list)
    target_ms: float | None = None
    problem: str | None = None

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1e3 if self.seconds else float("nan")

    @property
    def min_ms(self) -> float:
        return min(self.seconds) * 1e3 if self.seconds else float("nan")


# --- checking -------------------------------------------------------------------------------------------


def check_run(run: flowloom.Run, workload: Workload, n: int, calls: int) -> str | None:
    """What is wrong with a finished run, cheaply (every timed run is checked)."""
    if run.status is not flowloom.Status.SUCCEEDED:
        return f"run {run.status}: {run.error}"
    expected = {"x": workload.expect_x(n)}
    if run.outputs != expected:
        return f"outputs {run.outputs!r}, expected {expected!r}"
    if workload.pass_calls and calls != n:
        return f"{calls} bench-pass executions, expected {n}"
    return None


def check_report(run: flowloom.Run, workload: Workload, n: int) -> str | None:
    """What the run report shows is wrong: the end ran once; every condition ran once and took if_0."""
    reports = run.report().reports
    end_runs = len(reports[workflows.END_ID].snapshots) if workflows.END_ID in reports else 0
    if end_runs != 1:
        return f"end ran {end_runs} times"
    if workload.branch_prefix is not None:
        branches = [
            [s.branch for s in report.snapshots]
            for node_id, report in reports.items()
            if node_id.startswith(workload.branch_prefix)
        ]
        if len(branches) != n or any(b != ["if_0"] for b in branches):
            taken = sum(b == ["if_0"] for b in branches)
            return f"{taken} of {n} conditions took if_0 exactly once"
    return None


# --- timing ---------------------------------------------------------------------------------------------


async def timed_run(
    engine: flowloom.Engine, compiled: CompiledWorkflow, counter: PassExecutor
) -> tuple[flowloom.Run, float, int]:
    """One run: (finished run, wall seconds, bench-pass executions)."""
    calls = counter.calls
    began = time.perf_counter()
    run = await engine.run(compiled, {"x": START_X})
    seconds = time.perf_counter() - began
    return run, seconds, counter.calls - calls


async def measure(
    engine: flowloom.Engine,
    counter: PassExecutor,
    workload: Workload,
    n: int,
    repeats: int,
    warmup: bool = True,
) -> Row:
    """Load once, then (after one deep-checked warm-up run) time ``repeats`` runs."""
    began = time.perf_counter()
    compiled = engine.load(workload.build(n))
    row = Row(workload, n, nodes=n + 2, load_seconds=time.perf_counter() - began)
    gc.collect()  # once per series: leftovers of earlier workloads are not this one's cost
    if warmup:
        run, _, calls = await timed_run(engine, compiled, counter)
        row.problem = check_run(run, workload, n, calls) or check_report(run, workload, n)
    for _ in range(repeats):
        run, seconds, calls = await timed_run(engine, compiled, counter)
        row.seconds.append(seconds)
        row.problem = row.problem or check_run(run, workload, n, calls)
    return row


async def measure_safely(
    engine: flowloom.Engine,
    counter: PassExecutor,
    workload: Workload,
    n: int,
    repeats: int,
    warmup: bool = True,
) -> Row:
    """``measure``, with an exception (e.g. an invalid workflow) recorded as the row's problem."""
    try:
        return await measure(engine, counter, workload, n, repeats, warmup)
    except Exception as exc:
        return Row(workload, n, nodes=n + 2, problem=f"{type(exc).__name__}: {exc}")


def time_process(
    label: str,
    argv: Sequence[str],
    repeats: int,
    check: Callable[[str], str | None],
    target_ms: float | None = None,
) -> ProcessTiming:
    """Wall time of a fresh process, after one untimed warm-up; ``check`` judges its stdout."""
    timing = ProcessTiming(label, target_ms=target_ms)
    for attempt in range(repeats + 1):
        began = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, check=False, env=_bytecode_env())
        seconds = time.perf_counter() - began
        if done.returncode != 0:
            timing.problem = f"exit {done.returncode}: {done.stderr.strip()[-300:]}"
            return timing
        timing.problem = timing.problem or check(done.stdout)
        if attempt:
            timing.seconds.append(seconds)
    return timing


def _bytecode_env() -> dict[str, str]:
    """The environment for timed processes, with bytecode caching allowed as on any installed copy (the
    untimed warm-up writes the caches); a sandbox may disable it with PYTHONDONTWRITEBYTECODE."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def check_cold_start_output(stdout: str) -> str | None:
    try:
        result = json.loads(stdout)
    except json.JSONDecodeError:
        return f"not JSON: {stdout[:200]!r}"
    if result.get("status") != "succeeded" or result.get("outputs") != {"x": START_X}:
        return f"status {result.get('status')!r}, outputs {result.get('outputs')!r}"
    return None


#: What a run from the CLI imports besides flowloom: the floor under the cold start.
LIBRARIES = "import pydantic.main, anyio._backends._asyncio, typer"


def cold_start(repeats: int) -> list[ProcessTiming]:
    """``flowloom run <start→end file> --json``, ``python -c "import flowloom"`` and the imports of its
    libraries alone (``LIBRARIES``), in fresh processes."""
    cli = Path(sys.executable).parent / "flowloom"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "two-node.json"
        path.write_text(json.dumps(workflows.two_node(START_X)), encoding="utf-8")
        run = time_process(
            "cold start",
            [str(cli), "run", str(path), "--json"],
            repeats,
            check_cold_start_output,
            COLD_START_MS,
        )
    imported = time_process(
        "import flowloom", [sys.executable, "-c", "import flowloom"], repeats, lambda _: None
    )
    libraries = time_process("libraries alone", [sys.executable, "-c", LIBRARIES], repeats, lambda _: None)
    return [run, imported, libraries]


# --- reporting ------------------------------------------------------------------------------------------

TABLE = "{:<22} {:>7} {:>8} {:>9} {:>11} {:>9}  {:<11} {:<19} {}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


async def measure_pipeline(workload: PipelineWorkload, n: int, repeats: int) -> Row:
    """Build (and validate) once, then (after one checked warm-up run) time ``repeats`` runs of
    ``await pipeline.run_once()``; every run is checked: SUCCESS, each task run once."""
    executed: list[None] = []
    began = time.perf_counter()
    pipeline = workload.build(n, workload.sync, executed)
    pipeline.validate()
    tasks = workload.tasks(n)
    row = Row(workload, n, nodes=tasks, load_seconds=time.perf_counter() - began)
    async with pipeline:
        for attempt in range(repeats + 1):
            if attempt == 0:
                gc.collect()
            executed.clear()
            began = time.perf_counter()
            run_id = await pipeline.run_once()
            seconds = time.perf_counter() - began
            status = pipeline.get_run_report(run_id)["status"]
            if status != "SUCCESS" or len(executed) != tasks:
                row.problem = row.problem or f"run {status}, {len(executed)} of {tasks} tasks executed"
            if attempt:
                row.seconds.append(seconds)
    return row


async def measure_pipeline_safely(workload: PipelineWorkload, n: int, repeats: int) -> Row:
    try:
        return await measure_pipeline(workload, n, repeats)
    except Exception as exc:
        return Row(workload, n, nodes=workload.tasks(n), problem=f"{type(exc).__name__}: {exc}")


def row_result(row: Row) -> str:
    if row.problem is not None:
        return f"FAIL  {row.problem}"
    target = row.workload.target_us
    return "PASS" if target is None else verdict(row.us_per_node <= target)


def print_header(quick: bool, repeats: int) -> None:
    mode = "quick (smoke: N = 100, not for comparison)" if quick else "full"
    print(
        f"flowloom {flowloom.__version__} engine overhead - Python {platform.python_version()} "
        f"on {platform.system()} {platform.machine()} - mode: {mode}"
    )
    print(
        f"us/node = median wall time of one run / (N + 2 nodes: start, N, end); median of {repeats} "
        "runs after 1 warm-up; workflow loaded once before timing."
    )
    print()


def print_rows(rows: Sequence[Row], unit: str = "node") -> None:
    print(
        TABLE.format(
            "workload",
            "N",
            f"{unit}s",
            "load ms",
            "median ms",
            f"us/{unit}",
            "target",
            "upstream TS",
            "result",
        )
    )
    print("-" * 114)
    for row in rows:
        target = "completes" if row.workload.target_us is None else f"<= {row.workload.target_us:g}"
        print(
            TABLE.format(
                row.workload.name,
                f"{row.n:,}",
                f"{row.nodes:,}",
                f"{row.load_seconds * 1e3:.1f}",
                f"{row.median_s * 1e3:.2f}",
                f"{row.us_per_node:.2f}",
                target,
                row.workload.upstream,
                row_result(row),
            )
        )
    print()


def print_linearity(rows: Sequence[Row]) -> None:
    """Per-node cost at the largest N over that at the smallest, per workload."""
    print(f"linearity: us/node at N = {SIZES[-1]:,} / us/node at N = {SIZES[0]:,} (target <= {LINEAR_MAX}x)")
    for workload in WORKLOADS:
        by_n = {row.n: row for row in rows if row.workload is workload and row.problem is None}
        small, large = by_n.get(SIZES[0]), by_n.get(SIZES[-1])
        if small is None or large is None:
            print(f"  {workload.name:<16} n/a (not measured at both sizes)")
            continue
        ratio = large.us_per_node / small.us_per_node
        result = verdict(ratio <= LINEAR_MAX) if workload.linear else "(info, no target)"
        print(
            f"  {workload.name:<16} {small.us_per_node:8.2f} -> {large.us_per_node:8.2f}   "
            f"ratio {ratio:5.2f}x  {result}"
        )
    print()


def print_fixed_cost(row: Row) -> None:
    """The cost of a run that is not per node: a start → end workflow, in process."""
    if row.problem is not None:
        print(f"per-run fixed cost: FAIL  {row.problem}")
    else:
        print(
            f"per-run fixed cost (start -> end, in process, median of {len(row.seconds)}): "
            f"{row.median_s * 1e6:.0f} us; it weighs on the N = 100 rows."
        )
    print()


def print_big(row: Row) -> None:
    print(
        f"{row.workload.name}: {row.n:,} nodes, load (validate + compile) {row.load_seconds:.2f} s, "
        f"one run {row.median_s:.2f} s = {row.us_per_node:.2f} us/node  {row_result(row)}"
    )
    print()


def print_processes(timings: Sequence[ProcessTiming], repeats: int) -> None:
    print(f"fresh processes (median of {repeats} after 1 warm-up; the fastest, for context, in brackets):")
    for timing in timings:
        if timing.problem is not None:
            result = f"FAIL  {timing.problem}"
        elif timing.target_ms is None:
            result = "(for context)"
        else:
            result = f"target <= {timing.target_ms:g} ms  {verdict(timing.median_ms <= timing.target_ms)}"
        print(f"  {timing.label:<16} {timing.median_ms:8.1f} ms  ({timing.min_ms:6.1f})   {result}")
    print(f'  (libraries alone: python -c "{LIBRARIES}", what a CLI run imports besides flowloom)')
    print("  (bytecode caching on in these processes, as for any installed copy; the warm-up writes it)")
    print()


def print_upstream_note() -> None:
    print(
        "for scale, upstream @flowgram.ai/runtime-js 1.0.9: ~15 us/node chain, 80-230 us/node condition "
        "chain (quadratic), ~340 us/node JavaScript code nodes."
    )


# --- main -----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class EngineResults:
    rows: list[Row]
    big: Row
    fixed: Row

    def all(self) -> list[Row]:
        return [*self.rows, self.big, self.fixed]


async def run_engine_workloads(quick: bool) -> EngineResults:
    sizes = (QUICK_N,) if quick else SIZES
    repeats = QUICK_REPEATS if quick else REPEATS
    counter = PassExecutor()
    engine = flowloom.Engine()
    engine.register_executor(counter)
    rows = [await measure_safely(engine, counter, w, n, repeats) for w in WORKLOADS for n in sizes]
    big = await measure_safely(engine, counter, BIG_CHAIN, QUICK_N if quick else BIG_N, 1, warmup=False)
    fixed = await measure_safely(engine, counter, EMPTY, 0, FIXED_COST_REPEATS)
    return EngineResults(rows, big, fixed)


async def thread_round_trip_us(calls: int = 2_000) -> float:
    """One ``await loop.run_in_executor(pool, no-op)``, in us: the floor of a sync task's cost on this machine
    (two thread wake-ups; on a VM that moves the threads across CPUs, a wake-up can cost 100 us)."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1) as pool:
        await loop.run_in_executor(pool, _noop)
        began = time.perf_counter()
        for _ in range(calls):
            await loop.run_in_executor(pool, _noop)
        return (time.perf_counter() - began) / calls * 1e6


def _noop() -> None:
    pass


def quickjs_floor_us(calls: int = 2_000) -> tuple[float, float]:
    """In us: a QuickJS context created and freed, and upstream's wrapper of the bench script (``main``
    called, its promise settled) evaluated in one. Every JavaScript code node pays both."""
    script = (
        f"\n'use strict';\n\n{workflows.JS_INCREMENT}\n\nif (typeof main !== 'function') {{ throw 0; }}\n\n"
        f'const __params__ = {{"x":{START_X}}};\nmain({{ params: __params__ }});\n'
    )
    bare = scripted = 0.0
    for _ in range(calls):  # alternating, so that a drift of this VM's speed weighs on both alike
        began = time.perf_counter()
        quickjs.Context()  # freed at once: nothing keeps it
        middle = time.perf_counter()
        context = quickjs.Context()
        context.eval(script)
        while context.execute_pending_job():
            pass
        del context
        bare += middle - began
        scripted += time.perf_counter() - middle
    return bare / calls * 1e6, (scripted - bare) / calls * 1e6


async def run_pipeline_workloads(quick: bool) -> list[Row]:
    n = QUICK_N if quick else PIPELINE_N
    repeats = QUICK_REPEATS if quick else REPEATS
    return [await measure_pipeline_safely(workload, n, repeats) for workload in PIPELINE_WORKLOADS]


async def run_service_workloads(quick: bool) -> list[Row]:
    """Workloads that need a service: the Python sandbox pool (warm) and a local HTTP echo server."""
    sizes = (QUICK_N,) if quick else SERVICE_SIZES
    repeats = QUICK_REPEATS if quick else 5
    counter = PassExecutor()
    async with HttpEchoServer() as echo, flowloom.Engine() as engine:
        workloads = (PYTHON_CHAIN, http_chain_workload(echo.base_url))
        return [await measure_safely(engine, counter, w, n, repeats) for w in workloads for n in sizes]


def record_runs(quick: bool) -> None:
    """The per-node cost of recording runs (bench/recording.py): SQLite and, unless quick, PostgreSQL."""
    with tempfile.TemporaryDirectory(prefix="flowloom-bench-") as scratch:
        stores: list[tuple[str, Callable[[], RunStore]]] = [
            ("sqlite", partial(SqlStore, f"sqlite:///{scratch}/bench.db"))
        ]
        n, repeats = (recording.QUICK_N, QUICK_REPEATS) if quick else (recording.N, recording.REPEATS)
        if quick:
            asyncio.run(recording.measure(stores, n, repeats))
        else:
            with recording.postgres_server() as url:
                stores.append(("postgresql", partial(SqlStore, url)))
                asyncio.run(recording.measure(stores, n, repeats))
    print()


def audit_threads(quick: bool) -> bool:
    """bench/threads.py: ThreadWorkers' own pool against the library's, interleaved; False if a run failed."""
    n, rounds, runs = (QUICK_N, 1, QUICK_REPEATS) if quick else (threads.N, threads.ROUNDS, threads.REPEATS)
    try:
        threads.report(asyncio.run(threads.measure(n, rounds, runs)), n, rounds)
    except Exception as exc:
        print(f"speed tricks audited, threads: FAIL  {type(exc).__name__}: {exc}\n")
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke mode: N = 100 only, 2 repeats")
    args = parser.parse_args(argv)
    repeats = QUICK_REPEATS if args.quick else REPEATS

    print_header(args.quick, repeats)
    results = asyncio.run(run_engine_workloads(args.quick))
    print_rows(results.rows)
    services = asyncio.run(run_service_workloads(args.quick))
    print("services (a warm sandbox pool; a local HTTP echo server on 127.0.0.1):")
    print_rows(services)
    pipeline_rows = asyncio.run(run_pipeline_workloads(args.quick))
    print(
        "code-first pipelines (no-op tasks; Pipeline defaults max_parallel=4, max_workers=8; "
        "us/task = median run_once time / tasks):"
    )
    print_rows(pipeline_rows, unit="task")
    round_trip = asyncio.run(thread_round_trip_us())
    print(
        "for scale: a bare event loop -> thread -> event loop round trip (run_in_executor of a no-op) takes "
        f"{round_trip:.0f} us on this machine now (two thread wake-ups, which sync tasks pay too).\n"
    )
    context_us, script_us = quickjs_floor_us()
    print(
        f"for scale: a QuickJS context, created and freed, takes {context_us:.0f} us on this machine now, "
        f"and upstream's wrapper of the js code chain's script {script_us:.0f} us more in it (each code node "
        "pays both).\n"
    )
    threads_failed = not audit_threads(args.quick)
    print_fixed_cost(results.fixed)
    if args.quick:
        print("linearity: n/a in quick mode (N = 100 only)\n")
    else:
        print_linearity(results.rows)
    print_big(results.big)
    processes = cold_start(repeats)
    print_processes(processes, repeats)
    record_runs(args.quick)
    cluster_failed = False
    if args.quick:  # three clusters take half a minute to start: bench/cluster.py --quick checks them
        print("dask: n/a in quick mode (run bench/cluster.py)\n")
    else:
        cluster_failed = not cluster.report(quick=False)
    ui_failed = not asyncio.run(ui.run(args.quick))  # the dashboard's page times and event -> DOM delay
    print_upstream_note()

    rows = [*results.all(), *services, *pipeline_rows]
    failed: list[object] = [r for r in rows if r.problem] + [p for p in processes if p.problem]
    failed += ["threads"] if threads_failed else []
    failed += ["dask"] if cluster_failed else []
    failed += ["ui"] if ui_failed else []
    if failed:
        print(f"\n{len(failed)} measurement(s) FAILED (a run did not succeed or gave wrong outputs)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
