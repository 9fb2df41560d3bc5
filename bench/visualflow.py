"""VisualFlow on flowloom against AbstractRuntime 0.13.0, on the same flows in the same run, and the wall time
of a CLI resume against a plain CLI run.

    uv run python bench/visualflow.py             # 7 timed runs per side
    uv run python bench/visualflow.py --quick     # 3 timed runs per side, 3 CLI rounds

Setup: AbstractRuntime is installed into a scratch environment (``$FLOWLOOM_BENCH_AR_ENV``, default
``<tmp>/flowloom-bench-abstractruntime``) with uv the first time, then reused; it runs the flows through
``bench/_abstractruntime_driver.py`` in that environment. Both sides load and compile a flow once (not
timed), run it once to warm up, then time each run; the figure is the median. Outputs must agree.

Exit status: 0 when every run gave the expected outputs (a missed target is reported, not fatal), 1 when one
did not. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import flowloom

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "_abstractruntime_driver.py"
PEER = "abstractruntime==0.13.0"
PASSES = 1_000
CHAIN = 1_000
SPEEDUP_TARGET = 10.0
RESUME_TARGET = 1.5
EXEC = "execution"
Json = dict[str, Any]


def pin(pin_id: str, kind: str = "any") -> dict[str, str]:
    return {"id": pin_id, "label": pin_id, "type": kind}


def node(node_id: str, node_type: str, inputs: list[Any], outputs: list[Any], **data: Any) -> Json:
    data = {"nodeType": node_type, "label": node_id, "inputs": inputs, "outputs": outputs, **data}
    return {"id": node_id, "type": node_type, "data": data}


def edge(source: str, source_handle: str, target: str, target_handle: str) -> dict[str, str]:
    return {"source": source, "sourceHandle": source_handle, "target": target, "targetHandle": target_handle}


def math(node_id: str, kind: str, **defaults: Any) -> Json:
    return node(
        node_id,
        kind,
        [pin("a", "number"), pin("b", "number")],
        [pin("result", "number")],
        pinDefaults=defaults,
    )


def set_var(node_id: str, **defaults: Any) -> Json:
    exec_pins = [pin("exec-in", EXEC), pin("name", "string"), pin("value")]
    return node(node_id, "set_var", exec_pins, [pin("exec-out", EXEC), pin("value")], pinDefaults=defaults)


def get_var(node_id: str, name: str) -> Json:
    return node(node_id, "get_var", [pin("name", "string")], [pin("value")], pinDefaults={"name": name})


def for_loop(passes: int) -> Json:
    """for i in 0..n-1: if i % 2 == 0: evens = evens + i, else odds = odds + 1; end with both."""
    for_in = [pin("exec-in", EXEC), pin("start", "number"), pin("end", "number"), pin("step", "number")]
    for_out = [pin("loop", EXEC), pin("done", EXEC), pin("i", "number"), pin("index", "number")]
    compare_pins = [pin("a"), pin("op", "string"), pin("b")]
    end_pins = [pin("exec-in", EXEC), pin("evens", "number"), pin("odds", "number")]
    nodes = [
        node("start", "on_flow_start", [], [pin("exec-out", EXEC), pin("n", "number")]),
        set_var("init_evens", name="evens", value=0),
        set_var("init_odds", name="odds", value=0),
        node("each", "for", for_in, for_out, pinDefaults={"start": 0, "step": 1}),
        math("parity", "modulo", b=2),
        node(
            "is_even", "compare", compare_pins, [pin("result", "boolean")], pinDefaults={"op": "==", "b": 0}
        ),
        node(
            "branch",
            "if",
            [pin("exec-in", EXEC), pin("condition", "boolean")],
            [pin("true", EXEC), pin("false", EXEC)],
        ),
        get_var("evens", "evens"),
        math("plus_i", "add"),
        set_var("add_even", name="evens"),
        get_var("odds", "odds"),
        math("plus_one", "add", b=1),
        set_var("count_odd", name="odds"),
        get_var("final_evens", "evens"),
        get_var("final_odds", "odds"),
        node("end", "on_flow_end", end_pins, []),
    ]
    edges = [
        edge("start", "exec-out", "init_evens", "exec-in"),
        edge("init_evens", "exec-out", "init_odds", "exec-in"),
        edge("init_odds", "exec-out", "each", "exec-in"),
        edge("start", "n", "each", "end"),
        edge("each", "loop", "branch", "exec-in"),
        edge("each", "i", "parity", "a"),
        edge("parity", "result", "is_even", "a"),
        edge("is_even", "result", "branch", "condition"),
        edge("branch", "true", "add_even", "exec-in"),
        edge("evens", "value", "plus_i", "a"),
        edge("each", "i", "plus_i", "b"),
        edge("plus_i", "result", "add_even", "value"),
        edge("branch", "false", "count_odd", "exec-in"),
        edge("odds", "value", "plus_one", "a"),
        edge("plus_one", "result", "count_odd", "value"),
        edge("each", "done", "end", "exec-in"),
        edge("final_evens", "value", "end", "evens"),
        edge("final_odds", "value", "end", "odds"),
    ]
    return {"id": "bench-for-loop", "entryNode": "start", "nodes": nodes, "edges": edges}


def pure_chain(n: int) -> Json:
    """start(x) -> end(y), where y is read through n chained ``add`` builtins (each adds 1)."""
    nodes = [
        node("start", "on_flow_start", [], [pin("exec-out", EXEC), pin("x", "number")]),
        node("end", "on_flow_end", [pin("exec-in", EXEC), pin("y", "number")], []),
    ]
    edges = [edge("start", "exec-out", "end", "exec-in")]
    source, handle = "start", "x"
    for i in range(n):
        nodes.append(math(f"add{i}", "add", b=1))
        edges.append(edge(source, handle, f"add{i}", "a"))
        source, handle = f"add{i}", "result"
    edges.append(edge(source, handle, "end", "y"))
    return {"id": "bench-pure-chain", "entryNode": "start", "nodes": nodes, "edges": edges}


def asking() -> Json:
    """start -> ask_user -> end(answer): a run that waits, for the resume figure."""
    ask_in = [pin("exec-in", EXEC), pin("prompt", "string"), pin("choices", "array")]
    return {
        "id": "bench-ask",
        "entryNode": "start",
        "nodes": [
            node("start", "on_flow_start", [], [pin("exec-out", EXEC)]),
            node(
                "ask",
                "ask_user",
                ask_in,
                [pin("exec-out", EXEC), pin("response", "string")],
                pinDefaults={"prompt": "go?"},
            ),
            node("end", "on_flow_end", [pin("exec-in", EXEC), pin("answer", "string")], []),
        ],
        "edges": [
            edge("start", "exec-out", "ask", "exec-in"),
            edge("ask", "exec-out", "end", "exec-in"),
            edge("ask", "response", "end", "answer"),
        ],
    }


def two_node() -> Json:
    return {
        "id": "bench-two-node",
        "entryNode": "start",
        "nodes": [
            node("start", "on_flow_start", [], [pin("exec-out", EXEC)]),
            node("end", "on_flow_end", [pin("exec-in", EXEC)], []),
        ],
        "edges": [edge("start", "exec-out", "end", "exec-in")],
    }


# the peer ------------------------------------------------------------------------------------------------


def uv() -> list[str]:
    found = shutil.which("uv")
    return [found] if found else ["python3", "-m", "uv"]


def peer_python() -> Path:
    """The scratch environment's Python, with AbstractRuntime installed into it the first time."""
    env = Path(
        os.environ.get("FLOWLOOM_BENCH_AR_ENV")
        or Path(tempfile.gettempdir()) / "flowloom-bench-abstractruntime"
    )
    python = env / "bin" / "python"
    probe = [str(python), "-c", "import abstractruntime.visualflow_compiler"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    print(f"setup: installing {PEER} into {env} (once)", flush=True)
    subprocess.run([*uv(), "venv", "--quiet", "--python", "3.11", str(env)], check=True)
    subprocess.run([*uv(), "pip", "install", "--quiet", "--python", str(python), PEER], check=True)
    return python


def run_peer(python: Path, flow: Json, inputs: Json, repeats: int) -> tuple[list[float], Any]:
    with tempfile.TemporaryDirectory(prefix="flowloom-bench-vf-") as tmp:
        path = Path(tmp) / "flow.json"
        path.write_text(json.dumps(flow), encoding="utf-8")
        done = subprocess.run(
            [str(python), str(DRIVER), str(path), json.dumps(inputs), str(repeats + 1)],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise SystemExit(f"the AbstractRuntime driver failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["times_s"][1:], result["output"]  # the first run is the warm-up


# flowloom ------------------------------------------------------------------------------------------------


async def run_flowloom(flow: Json, inputs: Json, repeats: int) -> tuple[list[float], Any]:
    engine = flowloom.Engine()
    compiled = engine.load(flow)
    outputs = (await engine.run(compiled, inputs)).outputs  # warm-up
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run = await engine.run(compiled, inputs)
        times.append(time.perf_counter() - began)
        outputs = run.outputs
    return times, outputs


def same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return float(a) == float(b)
    return bool(a == b)


def compare(python: Path, name: str, flow: Json, inputs: Json, expected: Json, repeats: int) -> bool:
    ours, our_out = asyncio.run(run_flowloom(flow, inputs, repeats))
    theirs, their_out = run_peer(python, flow, inputs, repeats)
    ok = same(our_out, expected) and same(their_out, expected)
    mine, peer = statistics.median(ours), statistics.median(theirs)
    ratio = peer / mine
    mark = "FAIL" if not ok else ("ok" if ratio >= SPEEDUP_TARGET else "MISS")
    print(
        f"{name:<22} {mine * 1e3:10.2f} {peer * 1e3:14.2f} {ratio:8.2f}x   >= {SPEEDUP_TARGET:.0f}x  {mark}"
    )
    if not ok:
        print(f"  expected {expected}; flowloom {our_out}; AbstractRuntime {their_out}")
    return ok


# the CLI resume ------------------------------------------------------------------------------------------


def cli(*args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    command = Path(sys.executable).parent / "flowloom"
    began = time.perf_counter()
    done = subprocess.run([str(command), *args], capture_output=True, text=True, check=False)
    return time.perf_counter() - began, done


def resume_vs_plain(rounds: int) -> bool:
    """Median wall time of ``flowloom runs resume`` (answering a waiting run, in a new process) and of a
    plain ``flowloom run`` of a two-node flow, both on a SQLite store, interleaved."""
    with tempfile.TemporaryDirectory(prefix="flowloom-bench-vf-") as tmp:
        folder = Path(tmp)
        ask, plain = folder / "ask.json", folder / "two-node.json"
        ask.write_text(json.dumps(asking()), encoding="utf-8")
        plain.write_text(json.dumps(two_node()), encoding="utf-8")
        store = f"sqlite:///{folder / 'runs.db'}"
        cli("run", str(plain), "--json", "--store", store)  # creates the store; warms the caches
        resumes, plains = [], []
        ok = True
        for _ in range(rounds):
            _, waiting = cli("run", str(ask), "--json", "--store", store)
            run_id = json.loads(waiting.stdout)["run_id"]
            took, resumed = cli(
                "runs", "resume", run_id, "--payload", '{"response": "yes"}', "--json", "--store", store
            )
            resumes.append(took)
            ok = (
                ok
                and resumed.returncode == 0
                and json.loads(resumed.stdout)["outputs"].get("answer") == "yes"
            )
            took, ran = cli("run", str(plain), "--json", "--store", store)
            plains.append(took)
            ok = ok and ran.returncode == 0
    resume, run = statistics.median(resumes), statistics.median(plains)
    ratio = resume / run
    mark = "FAIL" if not ok else ("ok" if ratio <= RESUME_TARGET else "MISS")
    print(f"\nCLI wall time (median of {rounds}, SQLite store)")
    print(f"  flowloom run two-node.json   {run * 1e3:8.0f} ms")
    print(
        f"  flowloom runs resume ID      {resume * 1e3:8.0f} ms   {ratio:.2f}x the plain run",
        f" <= {RESUME_TARGET}x  {mark}",
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 timed runs per side, 3 CLI rounds")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    python = peer_python()
    print(f"VisualFlow: flowloom (in process, no store) vs {PEER} (in-memory stores); median of {repeats}")
    print(f"{'flow':<22} {'flowloom ms':>10} {'AbstractRuntime':>14} {'ratio':>9}   target")
    evens, odds = sum(range(0, PASSES, 2)), PASSES // 2
    ok = compare(
        python,
        f"for loop x{PASSES}",
        for_loop(PASSES),
        {"n": PASSES},
        {"evens": evens, "odds": odds, "success": True},
        repeats,
    )
    ok = (
        compare(
            python,
            f"pure chain x{CHAIN}",
            pure_chain(CHAIN),
            {"x": 0},
            {"y": CHAIN, "success": True},
            repeats,
        )
        and ok
    )
    ok = resume_vs_plain(3 if args.quick else 7) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
