"""``bench/run.py --quick`` runs every workload to a correct result. It never asserts timings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = (
    "chain",
    "fan-out",
    "condition chain",
    "js code chain",
    "big chain",
    "cold start",
    "libraries alone",
    "for scale: a QuickJS context",
    "pipeline async chain",
    "pipeline async fan-out",
    "pipeline sync chain",
    "pipeline sync fan-out",
    "speed tricks audited, threads",
    "sqlite",
)


def test_bench_quick_runs_every_workload() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    lines = [line.strip() for line in done.stdout.splitlines()]
    missing = [name for name in WORKLOADS if not any(line.startswith(name) for line in lines)]
    assert not missing, f"no line for {missing}\n{done.stdout}"
    assert "FAIL" not in done.stdout, done.stdout


def test_tricks_quick_compares_every_trick_with_its_library_alternative() -> None:
    """``bench/tricks.py --quick``: every A/B runs to checked results (a plain alternative that no longer
    fits the code it replaces fails here)."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "tricks.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    rows = [
        line.split()[0] for line in done.stdout.splitlines() if line.endswith(("keep (>= 20 %)", "replace"))
    ]
    # cold start: construct, statements; load: construct; per durability: statements, blocks
    expected = {"construct": 2, "statements": 3, "blocks": 2}
    assert {name: rows.count(name) for name in set(rows)} == expected, done.stdout


def test_automation_bench_quick_checks_its_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "automation.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert [line.split(":")[0] for line in done.stdout.splitlines()] == [
        "shell chain x100",
        "stream 10,000 lines to --jsonl",
    ], done.stdout
