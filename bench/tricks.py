"""Speed tricks audited: each of flowloom's speed tricks against the plain-library alternative, on the
headline figure it is meant to help, measured interleaved in one run.

    uv run python bench/tricks.py                      # every figure (a few minutes)
    uv run python bench/tricks.py cold batched         # some: cold, load, transition, batched
    uv run python bench/tricks.py --quick              # smoke mode: small sizes, 2 rounds

A is the code as shipped (the trick), B the library alternative (``bench/plain.py`` switches it in). Every
figure is measured in rounds; each round measures every arm once, in an order rotated from round to round,
so that a drift of this shared machine's speed falls on every arm alike. Printed per arm: the median and the
spread (interquartile range over the median); per trick: B/A, and the trick's share of the figure,
(B - A) / B, and for comparison the same share from paired samples (the median over rounds of B - A, over
B's median), which cancels most of the machine's drift between rounds. The rule (issue 15): a trick stays
only where its share is >= 20 % (B/A >= 1.25).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import plain
import workflows
from workflows import PassExecutor

import flowloom
from flowloom.ir import Status
from flowloom.stores import SqlStore

KEEP_SHARE = 0.20
SHIPPED = "A (shipped)"
HERE = Path(__file__).resolve().parent


@dataclass(slots=True)
class Figure:
    """One headline figure, measured for the shipped code and for each trick's library alternative."""

    name: str
    unit: str
    arms: dict[str, list[float]] = field(default_factory=dict)  # arm -> samples; SHIPPED or a trick's name

    def median(self, arm: str) -> float:
        return statistics.median(self.arms[arm])

    def paired(self, arm: str) -> float:
        """The median over rounds of ``arm``'s sample minus the shipped code's of the same round."""
        return statistics.median(b - a for a, b in zip(self.arms[SHIPPED], self.arms[arm], strict=True))

    def spread(self, arm: str) -> float:
        samples = self.arms[arm]
        if len(samples) < 4:
            return float("nan")
        q1, _, q3 = statistics.quantiles(samples, n=4)
        return (q3 - q1) / statistics.median(samples)


async def rounds(figure: Figure, arms: dict[str, Callable[[], Awaitable[float]]], count: int) -> None:
    """``count`` rounds of every arm once, in rotated order; an untimed warm-up round first."""
    names = list(arms)
    for index in range(count + 1):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            for trick in plain.NAMES:
                plain.switch(trick, plain=trick == name)
            sample = await arms[name]()
            if index:
                figure.arms.setdefault(name, []).append(sample)
    for trick in plain.NAMES:
        plain.switch(trick, plain=False)


# cold start: fresh processes ------------------------------------------------------------------------------


def _cli_ms(switched: str, workflow: Path, database: Path) -> Callable[[], Awaitable[float]]:
    """One ``flowloom run WORKFLOW --json`` in a fresh process, with ``switched`` tricks in their plain
    form (``-``: none), recording into ``database``: its wall time in ms."""
    argv = [sys.executable, str(HERE / "_switched_cli.py"), switched, "run", str(workflow), "--json"]
    env = dict(os.environ, FLOWLOOM_DATABASE_URL=f"sqlite:///{database}")
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as on any installed copy (the warm-up round writes caches)

    async def once() -> float:
        began = time.perf_counter()
        done = await asyncio.to_thread(
            subprocess.run, argv, capture_output=True, text=True, check=False, env=env
        )
        elapsed = (time.perf_counter() - began) * 1e3
        result = json.loads(done.stdout) if done.returncode == 0 else {}
        if result.get("status") != "succeeded" or result.get("outputs") != {"x": 1}:
            raise SystemExit(f"FAIL: {switched}: exit {done.returncode}: {done.stderr[-500:]}")
        return elapsed

    return once


async def cold_start(count: int) -> list[Figure]:
    figure = Figure("cold start: flowloom run two-node.json --json (SQLite store)", "ms")
    with tempfile.TemporaryDirectory(prefix="flowloom-tricks-") as scratch:
        workflow = Path(scratch) / "two-node.json"
        workflow.write_text(json.dumps(workflows.two_node(1)), encoding="utf-8")
        database = Path(scratch) / "runs.db"
        arms = {SHIPPED: _cli_ms("-", workflow, database)}
        for trick in ("construct", "statements"):
            arms[trick] = _cli_ms(trick, workflow, database)
        await rounds(figure, arms, count)
    return [figure]


# big chain load ------------------------------------------------------------------------------------------


async def big_chain_load(n: int, count: int) -> list[Figure]:
    """``engine.load`` (validate + compile) of the chain of ``n`` nodes, on a fresh engine each time (an
    engine caches what it compiled)."""
    schema = workflows.chain(n)

    async def once() -> float:
        engine = flowloom.Engine()
        engine.register_executor(PassExecutor())
        gc.collect()
        began = time.perf_counter()
        engine.load(schema)
        return (time.perf_counter() - began) * 1e3

    figure = Figure(f"big chain load: engine.load of the {n:,}-node chain", "ms")
    await rounds(figure, {SHIPPED: once, "construct": once}, count)
    return [figure]


# recording -------------------------------------------------------------------------------------------------


class _Chain:
    """The chain on one engine (with ``store`` or none), loaded once; ``us()`` is one checked run."""

    def __init__(self, store: SqlStore | None, durability: str, n: int) -> None:
        self.store, self.n = store, n
        self.engine = flowloom.Engine(store=store, durability=durability)
        self.engine.register_executor(PassExecutor())
        self.compiled = self.engine.load(workflows.chain(n))

    async def us(self) -> float:
        gc.collect()
        began = time.perf_counter()
        run = await self.engine.run(self.compiled, {"x": 1})
        elapsed = time.perf_counter() - began
        if run.status is not Status.SUCCEEDED:
            raise SystemExit(f"FAIL: run {run.status}: {run.error}")
        if self.store is not None:
            events = await self.store.get_events(run.id)
            if [e.seq for e in events] != list(range(1, len(events) + 1)) or not events:
                raise SystemExit("FAIL: the ledger's events are not numbered 1..n")
            if len(await self.store.get_nodes(run.id)) != self.n + 2:
                raise SystemExit("FAIL: not every node was recorded")
        return elapsed / (self.n + 2) * 1e6


def _overhead(bare: _Chain, recorded: _Chain) -> Callable[[], Awaitable[float]]:
    async def once() -> float:
        without = await bare.us()
        return await recorded.us() - without

    return once


async def recording(durability: str, n: int, count: int) -> list[Figure]:
    """Recording overhead on SQLite (us/node: a recorded chain run minus a run without a store made just
    before it, in the same round) with ``durability``."""
    figure = Figure(f"recording overhead, SQLite, {durability}, chain N = {n:,}", "us/node")
    with tempfile.TemporaryDirectory(prefix="flowloom-tricks-") as scratch:
        async with SqlStore(f"sqlite:///{scratch}/runs.db") as store:
            overhead = _overhead(_Chain(None, durability, n), _Chain(store, durability, n))
            await rounds(figure, {SHIPPED: overhead, "statements": overhead, "blocks": overhead}, count)
    return [figure]


# report ----------------------------------------------------------------------------------------------------


def report(figures: Sequence[Figure]) -> None:
    print()
    print(f"{'trick':<12}{'figure':<66}{'A':>9}{'B':>9}{'B/A':>7}{'share':>8}{'paired':>8}  verdict")
    for figure in figures:
        a = figure.median(SHIPPED)
        for trick, samples in figure.arms.items():
            if trick == SHIPPED:
                continue
            b = statistics.median(samples)
            share = (b - a) / b if b else float("nan")
            verdict = "keep (>= 20 %)" if share >= KEEP_SHARE else "replace"
            paired = figure.paired(trick) / b if b else float("nan")
            print(
                f"{trick:<12}{figure.name:<66}{a:>9.1f}{b:>9.1f}{b / a:>7.2f}{share:>8.1%}{paired:>8.1%}"
                f"  {verdict}"
            )
    print()
    print("spread per arm (interquartile range / median) and samples:")
    for figure in figures:
        spreads = ", ".join(
            f"{arm} {figure.median(arm):.1f} {figure.unit} ±{figure.spread(arm):.0%} (n={len(s)})"
            for arm, s in figure.arms.items()
        )
        print(f"  {figure.name}: {spreads}")


FIGURES = ("cold", "load", "transition", "batched")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("figures", nargs="*", metavar="FIGURE", help=f"any of {', '.join(FIGURES)}")
    parser.add_argument("--quick", action="store_true", help="smoke mode: small sizes, 2 rounds")
    parser.add_argument("--rounds", type=int, help="rounds per figure (default: per figure)")
    args = parser.parse_args(argv)
    chosen = args.figures or list(FIGURES)
    bad = [name for name in chosen if name not in FIGURES]
    if bad:
        parser.error(f"unknown figure(s) {bad}: choose from {', '.join(FIGURES)}")
    quick = args.quick

    def times(full: int) -> int:
        return args.rounds or (2 if quick else full)

    plan: dict[str, Callable[[], Awaitable[list[Figure]]]] = {
        "cold": lambda: cold_start(times(25)),
        "load": lambda: big_chain_load(1_000 if quick else 100_000, times(11)),
        "transition": lambda: recording("transition", 100 if quick else 1_000, times(41)),
        "batched": lambda: recording("batched", 100 if quick else 1_000, times(101)),
    }
    figures: list[Figure] = []
    for name in chosen:
        began = time.perf_counter()
        found = asyncio.run(plan[name]())
        print(f"measured {name} in {time.perf_counter() - began:.0f} s", flush=True)
        figures.extend(found)
    print(f"load average (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    report(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
