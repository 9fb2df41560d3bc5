"""Running the flowengine conformance cases (``../shared/conformance/flowengine/``) through the CLI contract
its README defines, and comparing what the CLI printed with each case's ``expect``.

A missing corpus fails loudly (``corpus_dir`` raises); nothing here skips a case."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _cli_pool import CliPool

ENV_VAR = "FLOWLOOM_FLOWENGINE_CORPUS"
CASE_TIMEOUT_S = 30.0
NOMINAL_START_MS = 500.0  # a `flowloom run` of one trivial node on an idle machine, start to exit


def corpus_dir() -> Path:
    configured = os.environ.get(ENV_VAR)
    path = (
        Path(configured)
        if configured
        else Path(__file__).resolve().parents[2] / "shared" / "conformance" / "flowengine"
    )
    if not (path / "cases").is_dir():
        raise FileNotFoundError(f"flowengine conformance cases not found: {path / 'cases'} (set ${ENV_VAR})")
    return path


def load_cases() -> list[dict[str, Any]]:
    return [
        json.loads(p.read_text(encoding="utf-8")) for p in sorted((corpus_dir() / "cases").glob("*.json"))
    ]


def node_types_of(case: dict[str, Any]) -> set[str]:
    """The node types a case uses (or, for ``nodes --json``, expects listed)."""
    listed = set(case.get("expect", {}).get("node_types", {}))
    workflow = case.get("workflow")
    if not isinstance(workflow, dict) or not isinstance(workflow.get("nodes"), list):
        return listed
    return listed | {
        n["node_type"]
        for n in workflow["nodes"]
        if isinstance(n, dict) and isinstance(n.get("node_type"), str)
    }


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    wall_ms: float
    lines: list[tuple[float, dict[str, Any]]] = field(default_factory=list)  # (arrival ms, event)
    result: dict[str, Any] | None = None
    workdir: Path = Path()


def needs_process(case: dict[str, Any]) -> bool:
    """Whether a case must run as its own ``flowloom`` process rather than in a ``CliPool`` worker: the
    ``timing`` cases (all those with a wall-time bound, a ``cancel`` signal or ``streamed`` lines timed as
    they arrive); those three are checked too, should a case carry one without ``timing``."""
    expect = case["expect"]
    timed = {"min_wall_ms", "max_wall_ms", "streamed"} & set(expect)
    return bool(case.get("timing") or case.get("cancel") or timed)


def run_case(
    case: dict[str, Any],
    names: dict[str, str],
    flowloom: list[str],
    env: dict[str, str],
    pool: CliPool | None = None,
) -> Outcome:
    """Run one case in a fresh directory as the README's "Running a case" says: in a worker of ``pool``
    when one is given and the case allows it (``needs_process``), else as a ``flowloom`` process."""
    sys.path.insert(0, str(corpus_dir()))
    from servers import substitute  # type: ignore[import-not-found]

    work = Path(tempfile.mkdtemp(prefix=f"fe-{case['id']}-"))
    names = {**names, "TMP": str(work)}
    for rel, content in (case.get("setup_files") or {}).items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(content, encoding="utf-8")
    mode = case.get("mode", "json")
    if mode == "nodes":
        argv = [*flowloom, "nodes", "--json"]
    else:
        if "workflow_text" in case:
            (work / "wf.json").write_text(case["workflow_text"], encoding="utf-8")
        else:
            (work / "wf.json").write_text(
                json.dumps(substitute(case.get("workflow"), names)), encoding="utf-8"
            )
        if "inputs_text" in case:
            (work / "in.json").write_text(case["inputs_text"], encoding="utf-8")
        else:
            (work / "in.json").write_text(
                json.dumps(substitute(case.get("inputs", {}), names)), encoding="utf-8"
            )
        if mode == "validate":
            argv = [*flowloom, "validate", "wf.json"]
        else:
            argv = [
                *flowloom,
                "run",
                "wf.json",
                "--inputs",
                "@in.json",
                "--jsonl" if mode == "jsonl" else "--json",
            ]
    argv += case.get("args", [])
    case_env = {**env, "FLOWENGINE_CASE_VAR": "from-parent"}
    if pool is not None and not needs_process(case):
        return _run_in_pool(pool, argv[len(flowloom) :], work, case_env, mode)
    started = time.monotonic()
    process = subprocess.Popen(
        argv,
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        env=case_env,
    )
    watchdog = threading.Timer(CASE_TIMEOUT_S, process.kill)  # a hung CLI fails its case, not the suite
    watchdog.start()
    lines: list[tuple[float, dict[str, Any]]] = []
    raw: list[str] = []
    cancel = case.get("cancel")
    assert process.stdout is not None and process.stderr is not None
    for text in process.stdout:
        raw.append(text)
        try:
            event = json.loads(text)
        except ValueError:
            continue
        lines.append(((time.monotonic() - started) * 1000, event))
        if cancel and matches(cancel["after_event"], event, exact=False):
            process.send_signal(getattr(signal, cancel.get("signal", "SIGINT")))
            cancel = None
    stderr = process.stderr.read()
    code = process.wait()
    watchdog.cancel()
    process.stdout.close()
    process.stderr.close()
    outcome = Outcome(code, "".join(raw), stderr, (time.monotonic() - started) * 1000, workdir=work)
    if mode in ("json", "jsonl") and lines:
        outcome.result = lines[-1][1]
        outcome.lines = lines[:-1]
    return outcome


def _run_in_pool(pool: CliPool, args: list[str], work: Path, env: dict[str, str], mode: str) -> Outcome:
    started = time.monotonic()
    done = pool.run(args, cwd=work, env=env, timeout_s=CASE_TIMEOUT_S)
    wall_ms = (time.monotonic() - started) * 1000
    outcome = Outcome(done.exit_code, done.stdout, done.stderr, wall_ms, workdir=work)
    lines: list[tuple[float, dict[str, Any]]] = []
    for text in done.stdout.splitlines():
        try:
            lines.append((wall_ms, json.loads(text)))  # no arrival times: streamed cases are processes
        except ValueError:
            continue
    if mode in ("json", "jsonl") and lines:
        outcome.result = lines[-1][1]
        outcome.lines = lines[:-1]
    return outcome


# --- comparing ---------------------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def _png_size(text: Any) -> tuple[int, int] | None:
    try:
        data = base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        return None
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _matcher(expected: dict[str, Any], actual: Any) -> bool:
    for key, want in expected.items():
        ok: bool
        if key == "$re":
            ok = isinstance(actual, str) and re.fullmatch(want, actual, re.DOTALL) is not None
        elif key == "$contains":
            ok = isinstance(actual, str) and all(t in actual for t in want)
        elif key == "$not_contains":
            ok = isinstance(actual, str) and not any(t in actual for t in want)
        elif key == "$startswith":
            ok = isinstance(actual, str) and actual.startswith(want)
        elif key == "$endswith":
            ok = isinstance(actual, str) and actual.endswith(want)
        elif key == "$type":
            kind = _json_type(actual)
            ok = kind == want or (want == "number" and kind == "integer")
        elif key == "$subset":
            ok = isinstance(actual, dict) and all(
                k in actual and matches(v, actual[k]) for k, v in want.items()
            )
        elif key == "$absent_keys":
            ok = isinstance(actual, dict) and not any(k in actual for k in want)
        elif key == "$json":
            try:
                ok = isinstance(actual, str) and matches(want, json.loads(actual))
            except ValueError:
                ok = False
        elif key == "$len":
            ok = isinstance(actual, str | list) and len(actual) == want
        elif key == "$sha256":
            ok = isinstance(actual, str) and hashlib.sha256(actual.encode()).hexdigest() == want
        elif key == "$png":
            ok = _png_size(actual) == (want["width"], want["height"])
        elif key == "$range":
            lo, hi = want
            ok = (
                _json_type(actual) in ("integer", "number")
                and (lo is None or actual >= lo)
                and (hi is None or actual <= hi)
            )
        else:
            raise ValueError(f"unknown matcher {key}")
        if not ok:
            return False
    return True


def _is_matcher(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(str(k).startswith("$") for k in value)


def matches(expected: Any, actual: Any, *, exact: bool = True) -> bool:
    """JSON comparison with matchers; ``exact=False``: an object pattern needs only its keys (events)."""
    if _is_matcher(expected):
        return _matcher(expected, actual)
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return float(expected) == float(actual)
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or (exact and set(expected) != set(actual)):
            return False
        return all(k in actual and matches(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(matches(e, a) for e, a in zip(expected, actual, strict=True))
        )
    return type(expected) is type(actual) and expected == actual


def problems(case: dict[str, Any], outcome: Outcome, slow_start_ms: float = 0.0) -> Iterator[str]:
    """Every way ``outcome`` differs from ``case["expect"]``. ``slow_start_ms``: how much longer than an
    idle machine's (``NOMINAL_START_MS``) the CLI takes to start and stop here; upper wall-time bounds are
    about the run, so that much is excused (lower bounds are kept as they are)."""
    expect = case["expect"]
    status = expect.get("status")
    code = expect.get("exit_code", 1 if status in ("failed", "canceled") else 0)
    if outcome.exit_code != code:
        yield f"exit code {outcome.exit_code}, expected {code}"
    if code == 2:
        text = (outcome.stdout + outcome.stderr).lower()
        yield from (f"{m!r} not mentioned" for m in expect.get("mentions", []) if m.lower() not in text)
        return
    if "min_wall_ms" in expect and outcome.wall_ms < expect["min_wall_ms"]:
        yield f"wall time {outcome.wall_ms:.0f} ms < {expect['min_wall_ms']}"
    if "max_wall_ms" in expect and outcome.wall_ms - slow_start_ms > expect["max_wall_ms"]:
        yield (
            f"wall time {outcome.wall_ms:.0f} ms > {expect['max_wall_ms']} "
            f"(+ {slow_start_ms:.0f} ms of slow CLI start-up on this machine)"
        )
    if case.get("mode") == "nodes":
        yield from _node_type_problems(expect.get("node_types", {}), outcome.stdout)
        return
    if case.get("mode") == "validate":
        return
    result = outcome.result
    if result is None:
        yield f"no result object on stdout; stderr: {outcome.stderr[-500:]}"
        return
    if status is not None and result.get("status") != status:
        yield f"status {result.get('status')!r}, expected {status!r} (error: {result.get('error')})"
    if "error" in expect:
        if not matches(expect["error"], result.get("error")):
            yield f"error {result.get('error')!r}, expected {expect['error']!r}"
    elif result.get("status") == "succeeded" and result.get("error") is not None:
        yield f"error {result.get('error')!r}, expected null"
    if "outputs" in expect and not matches(expect["outputs"], result.get("outputs")):
        yield f"outputs {_short(result.get('outputs'))}, expected {_short(expect['outputs'])}"
    yield from _nodes_problems(expect.get("nodes"), result.get("nodes") or {})
    yield from _event_problems(expect, outcome)
    yield from _file_problems(expect, outcome.workdir)


def _short(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)[:600]


def _nodes_problems(expected: dict[str, Any] | None, actual: dict[str, Any]) -> Iterator[str]:
    if expected is None:
        return
    if set(expected) != set(actual):
        yield f"nodes {sorted(actual)}, expected {sorted(expected)}"
    for node_id, fields in expected.items():
        got = actual.get(node_id, {})
        for key, want in fields.items():
            if not matches(want, got.get(key)):
                yield f"node {node_id}: {key} {_short(got.get(key))}, expected {_short(want)}"
        if fields.get("status") == "succeeded" and "error" not in fields and got.get("error") is not None:
            yield f"node {node_id}: error {got.get('error')!r}, expected null"


def _event_problems(expect: dict[str, Any], outcome: Outcome) -> Iterator[str]:
    events = [event for _at, event in outcome.lines]
    if "events" in expect:
        position = 0
        for pattern in expect["events"]:
            while position < len(events) and not matches(pattern, events[position], exact=False):
                position += 1
            if position == len(events):
                yield f"event {json.dumps(pattern)[:300]} not found in order"
                break
            position += 1
    for node_id, streams in (expect.get("logs") or {}).items():
        for stream, want in streams.items():
            got = [
                e.get("line")
                for e in events
                if e.get("type") == "NodeLog" and e.get("node_id") == node_id and e.get("stream") == stream
            ]
            if got != want:
                yield f"logs of {node_id} {stream}: {_short(got)}, expected {_short(want)}"
    for count in expect.get("event_counts", []):
        found = sum(1 for e in events if matches(count["match"], e, exact=False))
        if found != count["count"]:
            yield f"{found} events match {json.dumps(count['match'])}, expected {count['count']}"
    streamed = expect.get("streamed")
    if streamed:
        stamps = [
            at
            for at, e in outcome.lines
            if e.get("type") == "NodeLog" and e.get("node_id") == streamed["node"]
        ]
        spread = stamps[-1] - stamps[0] if stamps else 0.0
        if spread < streamed["min_spread_ms"]:
            want = streamed["min_spread_ms"]
            yield f"NodeLog lines of {streamed['node']} arrived {spread:.0f} ms apart, expected >= {want}"


def _file_problems(expect: dict[str, Any], workdir: Path) -> Iterator[str]:
    files = expect.get("files")
    if not files:
        return
    time.sleep(expect.get("files_wait_ms", 0) / 1000)
    for rel, want in files.items():
        path = workdir / rel
        got = path.read_text(encoding="utf-8") if path.exists() else None
        if got != want:
            yield f"file {rel}: {got!r}, expected {want!r}"


def _node_type_problems(expected: dict[str, Any], stdout: str) -> Iterator[str]:
    try:
        listed = {entry["type"]: entry for entry in json.loads(stdout)}
    except (ValueError, KeyError, TypeError):
        yield f"nodes --json did not print a list of node types: {stdout[:300]}"
        return

    def names(items: list[Any]) -> set[str]:
        return {item["name"] if isinstance(item, dict) else item for item in items}

    for node_type, want in expected.items():
        got = listed.get(node_type)
        if got is None:
            yield f"node type {node_type} not listed"
            continue
        if "category" in want and got.get("category") != want["category"]:
            yield f"{node_type}: category {got.get('category')!r}, expected {want['category']!r}"
        if not got.get("description"):
            yield f"{node_type}: no description"
        for key in ("config", "inputs", "outputs"):
            missing = set(want.get(key, [])) - names(got.get(key, []))
            if missing:
                yield f"{node_type}: {key} lacks {sorted(missing)}"


def slow_start_ms(flowloom: list[str], env: dict[str, str], repeats: int = 3) -> float:
    """How much longer than ``NOMINAL_START_MS`` a trivial ``flowloom run`` takes here now (median)."""
    work = Path(tempfile.mkdtemp(prefix="fe-start-"))
    (work / "wf.json").write_text(json.dumps({"nodes": [{"id": "d", "node_type": "debug.log"}]}))
    times = []
    for _ in range(repeats):
        started = time.monotonic()
        subprocess.run(
            [*flowloom, "run", "wf.json", "--json"], cwd=work, env=env, capture_output=True, check=True
        )
        times.append((time.monotonic() - started) * 1000)
    return max(sorted(times)[len(times) // 2] - NOMINAL_START_MS, 0.0)


def flowloom_command() -> list[str]:
    return [str(Path(sys.executable).with_name("flowloom"))]
