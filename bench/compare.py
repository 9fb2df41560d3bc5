"""Before/after: every headline workload of ``bench/run.py`` for a base revision and for this checkout, in
one interleaved run.

    uv run python bench/compare.py                 # base: BASELINE below, 5 rounds of quick mode
    uv run python bench/compare.py --base HEAD~3 --rounds 3 --full

Each round runs the base's own ``bench/run.py`` and this checkout's, in alternating order, each in a fresh
process of this environment with ``PYTHONPATH`` pointing at its sources (the base is checked out into a
temporary git worktree). A workload's figure is the median over the rounds; ``after/before`` above 1.10 is
flagged SLOWER. The machine's drift falls on both sides alike, as the runs alternate.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "95d0030"  # the last commit before issue 15's seams (formats, waits, workers, streams)
SLOWER = 1.10

# "chain   100   102   7.2   0.56   5.49  <= 10 ..."  -> us/node (or us/task)
_TABLE_ROW = re.compile(r"^(?P<name>[a-z][a-z -]+?)\s{2,}\d+\s+\d+\s+[\d.]+\s+[\d.]+\s+(?P<value>[\d.]+)\s")
_COLD = re.compile(r"^\s+(?P<name>cold start|import flowloom)\s+(?P<value>[\d.]+) ms")
_RECORDING = re.compile(r"^(?P<store>sqlite|postgresql)\s+(?P<mode>transition|batched)\s+(?P<value>[\d.]+)\s")
_BIG = re.compile(r"^big chain: .*= (?P<value>[\d.]+) us/node")


def figures(output: str) -> dict[str, float]:
    """The headline figures a ``bench/run.py`` run printed, by workload."""
    found: dict[str, float] = {}
    for line in output.splitlines():
        if m := _TABLE_ROW.match(line):
            found.setdefault(m["name"].strip() + " (us/node)", float(m["value"]))
        elif m := _COLD.match(line):
            found[m["name"] + " (ms)"] = float(m["value"])
        elif m := _RECORDING.match(line):
            found[f"recording {m['store']} {m['mode']} (us/node)"] = float(m["value"])
        elif m := _BIG.match(line):
            found["big chain (us/node)"] = float(m["value"])
    return found


def run_bench(tree: Path, data: Path, full: bool) -> dict[str, float]:
    # each side its own data directory: the default store's schema differs between versions
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "XDG_DATA_HOME": str(data)}
    argv = [sys.executable, str(tree / "bench" / "run.py"), *([] if full else ["--quick"])]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tree, check=False)
    if done.returncode not in (0, 1):  # 1: a MISS or FAIL row, still a measurement
        raise SystemExit(f"bench/run.py in {tree} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return figures(done.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", default=BASELINE, help=f"the revision to compare with (default {BASELINE})")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--full", action="store_true", help="bench/run.py's full mode (minutes per round)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="flowloom-base-") as scratch:
        base = Path(scratch) / "base"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(base), args.base], check=True
        )
        try:
            samples: dict[str, dict[str, list[float]]] = {
                "before": defaultdict(list),
                "after": defaultdict(list),
            }
            for round_ in range(args.rounds):
                sides = [("before", base), ("after", ROOT)]
                for side, tree in sides if round_ % 2 == 0 else reversed(sides):
                    data = Path(scratch) / f"data-{side}"
                    for name, value in run_bench(tree, data, args.full).items():
                        samples[side][name].append(value)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    mode = "full" if args.full else "quick"
    print(f"before = {args.base}, after = this checkout; {args.rounds} interleaved rounds ({mode}), medians")
    print(f"{'workload':<42} {'before':>9} {'after':>9} {'after/before':>13}")
    slower = 0
    for name, before in samples["before"].items():
        after = samples["after"].get(name)
        if not after:
            continue
        b, a = statistics.median(before), statistics.median(after)
        ratio = a / b if b else float("nan")
        flag = "  SLOWER" if ratio > SLOWER else ""
        slower += ratio > SLOWER
        print(f"{name:<42} {b:>9.2f} {a:>9.2f} {ratio:>13.2f}{flag}")
    print(f"{slower} workload(s) more than {SLOWER - 1:.0%} slower")
    return 0


if __name__ == "__main__":
    sys.exit(main())
