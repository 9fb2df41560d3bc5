"""Load test of flowloom's HTTP server (a script, not a test).

Starts ``flowloom.create_app()`` under uvicorn in a child process (one server process, uvloop + httptools,
no access log), then submits ``--runs`` runs of a start -> end workflow (the end echoes an input) from
``--clients`` concurrent ``httpx.AsyncClient``s (one connection each) through ``POST /api/task/run``, polls
``GET /api/task/result`` until each has finished, checks every output, and prints runs/s, the p50/p99
latency (submit -> result available) and the number of lost runs.

The load generator needs more CPU per run than the server (httpx costs ~0.8 ms per request), so one
generator process saturates a core first; ``--procs N`` shares the clients out over N processes. Everything
runs on this machine: the numbers include the load generator's own CPU, and the CPU time per run of each side
is printed too (steadier than wall-clock rates on a shared machine).

    uv run python bench/load.py                       # 1,000 runs from 50 clients in one process
    uv run python bench/load.py --runs 5000 --procs 2

Targets (2 cores, load generator included): >= 600 runs/s, p99 <= 150 ms, zero lost runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.cookiejar
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import httpx

TARGET_RUNS_PER_S = 600.0
TARGET_P99_MS = 150.0
RESULT_TIMEOUT_S = 30.0
WARMUP_RUNS_PER_CLIENT = 4

WORKFLOW = json.dumps(
    {
        "nodes": [
            {
                "id": "start_0",
                "type": "start",
                "meta": {"position": {"x": 0, "y": 0}},
                "data": {
                    "outputs": {
                        "type": "object",
                        "properties": {"msg": {"type": "string"}},
                        "required": ["msg"],
                    }
                },
            },
            {
                "id": "end_0",
                "type": "end",
                "meta": {"position": {"x": 400, "y": 0}},
                "data": {
                    "inputs": {"type": "object", "properties": {"echo": {"type": "string"}}},
                    "inputsValues": {"echo": {"type": "ref", "content": ["start_0", "msg"]}},
                },
            },
        ],
        "edges": [{"sourceNodeID": "start_0", "targetNodeID": "end_0"}],
    }
)


def serve(port: int) -> None:
    """The server process, as fast as it honestly goes."""
    from flowloom.server import FlowloomServer, create_app

    server = FlowloomServer(
        create_app(), port=port, loop="uvloop", http="httptools", log_level="warning", access_log=False
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.run()


@dataclass
class Tally:
    latencies_s: list[float] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # why each lost run was lost
    polls: int = 0
    began: float = 0.0  # time.time() of the first submission and of the last result
    ended: float = 0.0
    cpu_s: float = 0.0  # the generator's CPU time while it ran


class _NoCookies(http.cookiejar.CookieJar):
    """The server sets no cookies; skip httpx's per-response cookie parsing in the generator."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


class Target:
    """The requests of a run, prepared once: the generator spends its CPU on HTTP, not on re-encoding
    the same 1 KB body or re-parsing the same URLs."""

    def __init__(self, base_url: str) -> None:
        self.run_url = httpx.URL(f"{base_url}/api/task/run")
        self.result_url = f"{base_url}/api/task/result?taskID="
        self.body_head = b'{"schema":' + json.dumps(WORKFLOW).encode() + b',"inputs":{"msg":"'
        self.headers = {"Content-Type": "application/json"}


async def one_run(client: httpx.AsyncClient, target: Target, n: int, tally: Tally) -> None:
    message = f"m{n}"
    began = time.perf_counter()
    try:
        body = target.body_head + message.encode() + b'"}}'
        submitted = await client.post(target.run_url, content=body, headers=target.headers)
        if submitted.status_code != 200:
            tally.lost.append(f"run {n}: submit answered {submitted.status_code} {submitted.text[:100]}")
            return
        result_url = httpx.URL(target.result_url + submitted.json()["taskID"])
        pause = 0.001
        while True:
            tally.polls += 1
            result = await client.get(result_url)
            if result.status_code == 200 and result.content:
                break
            if time.perf_counter() - began > RESULT_TIMEOUT_S:
                tally.lost.append(f"run {n}: no result after {RESULT_TIMEOUT_S}s")
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.02)
    except httpx.HTTPError as exc:
        tally.lost.append(f"run {n}: {type(exc).__name__}: {exc}")
        return
    elapsed = time.perf_counter() - began
    if result.json() != {"echo": message}:
        tally.lost.append(f"run {n}: wrong output {result.text[:100]}")
        return
    tally.latencies_s.append(elapsed)


async def load(clients: list[httpx.AsyncClient], target: Target, numbers: range, tally: Tally) -> None:
    """Runs ``numbers``, shared out over ``clients``."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in numbers:
        queue.put_nowait(n)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            await one_run(client, target, queue.get_nowait(), tally)

    tally.began = time.time()
    async with asyncio.TaskGroup() as group:
        for client in clients:
            group.create_task(worker(client))
    tally.ended = time.time()


async def generate(base_url: str, clients: int, numbers: range, barrier: Barrier) -> Tally:
    """One generator process: connect and warm up, wait for the others, then run ``numbers``."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    target = Target(base_url)
    async with contextlib.AsyncExitStack() as stack:
        pool = [
            await stack.enter_async_context(
                httpx.AsyncClient(limits=limits, timeout=RESULT_TIMEOUT_S, cookies=_NoCookies())
            )
            for _ in range(clients)
        ]
        await load(pool, target, range(-WARMUP_RUNS_PER_CLIENT * clients, 0), Tally())
        await asyncio.to_thread(barrier.wait)
        tally = Tally()
        cpu = time.process_time()
        await load(pool, target, numbers, tally)
        tally.cpu_s = time.process_time() - cpu
    return tally


def generator_process(base_url: str, clients: int, numbers: range, barrier: Barrier, out: Queue[Any]) -> None:
    import uvloop

    out.put(asdict(uvloop.run(generate(base_url, clients, numbers, barrier))))


def wait_until_up(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        for _ in range(400):
            try:
                if client.get("/info").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.025)
    raise SystemExit("the server did not start")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def measure(base_url: str, runs: int, clients: int, procs: int, server_pid: int) -> tuple[Tally, float]:
    """Run the generator processes and merge what they counted; also the server's CPU time meanwhile."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(procs + 1)  # the generators, warmed up, and this process
    out: Queue[Any] = context.Queue()
    workers = []
    for k in range(procs):
        share = range(k * runs // procs, (k + 1) * runs // procs)
        mine = clients // procs + (1 if k < clients % procs else 0)
        workers.append(context.Process(target=generator_process, args=(base_url, mine, share, barrier, out)))
    for worker in workers:
        worker.start()
    barrier.wait(timeout=600)
    cpu_before = cpu_seconds(server_pid)
    parts = [Tally(**out.get(timeout=600)) for _ in workers]
    server_cpu_s = cpu_seconds(server_pid) - cpu_before
    for worker in workers:
        worker.join()
    merged = Tally(
        latencies_s=[x for p in parts for x in p.latencies_s],
        lost=[x for p in parts for x in p.lost],
        polls=sum(p.polls for p in parts),
        began=min(p.began for p in parts),
        ended=max(p.ended for p in parts),
        cpu_s=sum(p.cpu_s for p in parts),
    )
    return merged, server_cpu_s


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far; 0 where /proc is not available."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(tally: Tally, runs: int, clients: int, procs: int, server_cpu_s: float) -> int:
    wall_s = tally.ended - tally.began
    rate = len(tally.latencies_s) / wall_s
    p50_ms = percentile(tally.latencies_s, 0.50) * 1000
    p99_ms = percentile(tally.latencies_s, 0.99) * 1000
    print(f"flowloom server load test: {runs} runs of start -> end through /api/task/run")
    print(f"  load             {clients} concurrent httpx clients in {procs} process(es)")
    print(f"  machine          {os.cpu_count()} cores, shared by the server process and the load generator")
    print(f"  wall time        {wall_s:7.2f} s    ({tally.polls / max(runs, 1):.2f} result polls per run)")
    rate_ok, p99_ok = _mark(rate >= TARGET_RUNS_PER_S), _mark(p99_ms <= TARGET_P99_MS)
    server_us, generator_us = server_cpu_s / runs * 1e6, tally.cpu_s / runs * 1e6
    print(f"  throughput       {rate:7.0f} runs/s   target >= {TARGET_RUNS_PER_S:.0f}   {rate_ok}")
    print(f"  latency p50      {p50_ms:7.1f} ms")
    print(f"  latency p99      {p99_ms:7.1f} ms      target <= {TARGET_P99_MS:.0f}   {p99_ok}")
    print(f"  lost runs        {len(tally.lost):7d}         target 0     {_mark(not tally.lost)}")
    print(f"  CPU per run      server {server_us:5.0f} us, load generator {generator_us:5.0f} us")
    for reason in tally.lost[:10]:
        print(f"    {reason}")
    return 1 if tally.lost else 0


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISS"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--procs", type=int, default=1, help="load-generator processes")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the server process
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return 0
    port = _free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_up(base_url)
        procs = max(1, min(args.procs, args.clients))
        tally, server_cpu_s = measure(base_url, args.runs, args.clients, procs, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return report(tally, args.runs, args.clients, procs, server_cpu_s)


if __name__ == "__main__":
    raise SystemExit(main())
