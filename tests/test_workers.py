"""The ``Workers`` seam: ``ThreadWorkers`` (threads, bounded, cancellable, closed with its owner), the
sandbox behind one ``run(language, ...)``, ``ctx.workers`` in executors, and an injected implementation
used by code nodes and pipelines alike."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import anyio
import anyio.to_thread
import pytest

import flowloom
from _workflows import chain, end, js, node, props, ref, start
from flowloom import Engine, Lazy, NodeContext, NodeResult, Pipeline, Services, ThreadWorkers, WorkKey
from flowloom.engine import NodeWorkers
from flowloom.formats import flowgram
from flowloom.ir import CodeLanguage, CodeLimits, SandboxError, Status
from flowloom.nodes import NodeRegistry
from flowloom.workers import SandboxPool

pytestmark = pytest.mark.anyio
T = TypeVar("T")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
QUICKSTART_INPUTS = json.loads((EXAMPLES / "quickstart.inputs.json").read_text())
PY_DOUBLE = 'def main(args):\n    return {"y": args["params"]["x"] * 2}\n'
JS_INCREMENT = "function main({ params }) { return { z: params.y + 1 }; }"


def worker_threads(prefix: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith(f"{prefix}_")]


async def ended(threads: list[threading.Thread]) -> bool:
    for thread in threads:
        await anyio.to_thread.run_sync(thread.join, 10.0)
    return not any(thread.is_alive() for thread in threads)


async def awaited(workers: ThreadWorkers, fn: Callable[..., T], *args: Any) -> T:
    """``workers.call`` as a coroutine function (it returns a future), for ``start_soon``."""
    return await workers.call(fn, *args)


# -- ThreadWorkers ---------------------------------------------------------------------------------------


async def test_calls_run_on_worker_threads_while_the_loop_goes_on() -> None:
    loop_thread = threading.get_ident()
    released = threading.Event()
    ticks = 0

    def blocking(a: int, b: int) -> tuple[int, int]:
        assert released.wait(10)  # set by the event loop: it must keep running meanwhile
        return a + b, threading.get_ident()

    async def ticker() -> None:
        nonlocal ticks
        for _ in range(3):
            await anyio.sleep(0.01)
            ticks += 1
        released.set()

    async with ThreadWorkers(name="offloop") as workers, anyio.create_task_group() as group:
        group.start_soon(ticker)
        total, thread = await workers.call(blocking, 2, 3)
    assert total == 5
    assert thread != loop_thread
    assert ticks == 3


async def test_a_canceled_call_releases_its_caller_and_a_queued_one_never_runs() -> None:
    gate = threading.Event()
    ran: list[str] = []

    def held() -> None:
        ran.append("held")
        assert gate.wait(10)

    async with ThreadWorkers(max_workers=1, name="cancel") as workers:
        with anyio.move_on_after(0.2) as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(awaited, workers, held)
                await anyio.sleep(0.05)  # `held` has the only thread now
                group.start_soon(awaited, workers, ran.append, "queued")
                await anyio.sleep(10)
        assert scope.cancelled_caught  # the caller of a running call was released before it ended
        gate.set()
        assert await workers.call(lambda: "after") == "after"  # the queue has moved on past "queued"
    assert ran == ["held"]


async def test_at_most_max_workers_calls_run_at_once() -> None:
    lock = threading.Lock()
    pairs = threading.Barrier(2, timeout=10)  # two calls must meet: two threads at least
    running = peak = 0

    def busy() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        pairs.wait()
        with lock:
            running -= 1

    async with ThreadWorkers(max_workers=2, name="bounded") as workers, anyio.create_task_group() as group:
        for _ in range(8):
            group.start_soon(awaited, workers, busy)
    assert peak == 2
    assert len(worker_threads("bounded")) <= 2


async def test_what_a_call_raises_reaches_its_caller() -> None:
    def fails() -> None:
        raise KeyError("missing")

    async with ThreadWorkers(name="raises") as workers:
        with pytest.raises(KeyError, match="missing"):
            await workers.call(fails)
        with pytest.raises(RuntimeError, match="StopIteration"):  # would hang a future otherwise
            await workers.call(next, iter(()))
        assert await workers.call(sum, [1, 2]) == 3


async def test_closing_ends_the_threads_and_a_later_call_starts_them_again() -> None:
    workers = ThreadWorkers(name="closing")
    await workers.call(int)
    threads = worker_threads("closing")
    assert threads
    await workers.aclose()
    assert await ended(threads)
    assert await workers.call(int, "7") == 7
    await workers.aclose()


async def test_calls_may_run_on_an_executor_of_yours() -> None:
    with ThreadPoolExecutor(1, thread_name_prefix="mine") as executor:
        workers = ThreadWorkers(executor=executor)
        name = await workers.call(lambda: threading.current_thread().name)
        with pytest.raises(RuntimeError, match="StopIteration"):  # would hang a future otherwise
            await workers.call(next, iter(()))
        await workers.aclose()
        assert name.startswith("mine")
        assert executor.submit(int).result() == 0  # closing the workers left your executor alone


async def test_max_workers_must_be_a_positive_integer() -> None:
    with pytest.raises(ValueError, match="max_workers must be an integer >= 1, not 0"):
        ThreadWorkers(max_workers=0)


# -- the sandbox behind one call ------------------------------------------------------------------------


async def test_run_takes_the_language_and_goes_to_the_sandbox() -> None:
    limits = CodeLimits(time_limit_s=10)
    async with SandboxPool(1) as pool, ThreadWorkers(sandbox=pool) as workers:
        assert await workers.run(CodeLanguage.PYTHON, PY_DOUBLE, {"x": 4}, limits) == {"y": 8}
        assert await workers.run(CodeLanguage.JAVASCRIPT, JS_INCREMENT, {"y": 8}, limits) == {"z": 9}
        with pytest.raises(SandboxError, match=r"^ZeroDivisionError"):
            await workers.run(CodeLanguage.PYTHON, "def main(args):\n    return 1 / 0\n", {}, limits)
    with pytest.raises(RuntimeError, match="no sandbox to run code in"):
        await ThreadWorkers().run(CodeLanguage.PYTHON, PY_DOUBLE, {"x": 1}, limits)


# -- ctx.workers ---------------------------------------------------------------------------------------


class DigestExecutor:
    """A custom node whose work blocks: it goes to ``ctx.workers``, never to a thread of its own."""

    type: ClassVar[str] = "digest"

    async def execute(self, ctx: NodeContext) -> NodeResult:
        text = str(ctx.inputs["text"])
        digest, thread = await ctx.workers.call(_digest, text, int(ctx.data.get("rounds", 1)))
        return NodeResult(outputs={"digest": digest, "offLoop": thread != threading.get_ident()})


def _digest(text: str, rounds: int) -> tuple[str, int]:
    import hashlib

    value = text.encode()
    for _ in range(rounds):
        value = hashlib.sha256(value).digest()
    return value.hex(), threading.get_ident()


def digest_workflow() -> dict[str, Any]:
    digest = node(
        "digest_0",
        "digest",
        rounds=3,
        inputs=props(text="string"),
        inputsValues={"text": ref("start_0", "text")},
        outputs=props(digest="string", offLoop="boolean"),
    )
    finish = node(
        "end_0",
        "end",
        inputs=props(digest="string", offLoop="boolean"),
        inputsValues={"digest": ref("digest_0", "digest"), "offLoop": ref("digest_0", "offLoop")},
    )
    return chain(start(text="string"), digest, finish)


async def test_a_custom_executor_runs_blocking_work_on_ctx_workers() -> None:
    async with flowloom.Engine() as engine:
        engine.register_executor(DigestExecutor())
        run = await engine.run(digest_workflow(), {"text": "abc"})
        assert run.status is Status.SUCCEEDED, run.error
        assert run.outputs == {"digest": _digest("abc", 3)[0], "offLoop": True}
        threads = worker_threads("flowloom-worker")
        assert threads
    assert await ended(threads)  # the engine closed its workers


async def test_services_given_without_workers_get_the_default_thread_workers() -> None:
    registry = NodeRegistry.default()
    registry.register(DigestExecutor())
    async with Engine(registry=registry, services=Services(code_limits=CodeLimits(time_limit_s=5))) as engine:
        assert isinstance(engine.services.workers, Lazy)
        run = await engine.run(engine.compile(flowgram.to_workflow(digest_workflow())), {"text": "a"})
        assert run.status is Status.SUCCEEDED, run.error
        assert isinstance(engine.services.workers.get(), ThreadWorkers)


# -- an injected implementation --------------------------------------------------------------------------


class CountingWorkers:
    """A real ``Workers``: ``ThreadWorkers`` underneath, every call counted with its kind and key."""

    def __init__(self, inner: ThreadWorkers) -> None:
        self.inner = inner
        self.seen: list[tuple[str, WorkKey | None]] = []

    async def call(self, fn: Callable[..., T], /, *args: Any, key: WorkKey | None = None) -> T:
        self.seen.append(("call", key))
        return await self.inner.call(fn, *args, key=key)

    async def run(
        self,
        language: CodeLanguage,
        source: str,
        params: Mapping[str, Any],
        limits: CodeLimits,
        *,
        key: WorkKey | None = None,
    ) -> Any:
        self.seen.append((language, key))
        return await self.inner.run(language, source, params, limits, key=key)

    async def aclose(self) -> None:
        await self.inner.aclose()


def code_workflow() -> dict[str, Any]:
    python = node(
        "py_0",
        "code",
        inputs=props(x="number"),
        inputsValues={"x": ref("start_0", "x")},
        outputs=props(y="number"),
        script={"language": "python", "content": PY_DOUBLE},
    )
    return chain(
        start(x="number"),
        python,
        js("js_0", JS_INCREMENT, {"y": ref("py_0", "y")}, z="number"),
        end(z=ref("js_0", "z")),
    )


async def test_code_nodes_and_custom_executors_use_the_injected_workers() -> None:
    async with SandboxPool(1) as pool:
        counting = CountingWorkers(ThreadWorkers(sandbox=pool))
        services = Services(workers=Lazy.of(counting))
        async with flowloom.Engine(services=services) as engine:
            engine.register_executor(DigestExecutor())
            run = await engine.run(code_workflow(), {"x": 5})
            assert run.status is Status.SUCCEEDED, run.error
            assert run.outputs == {"z": 11}
            digested = await engine.run(digest_workflow(), {"text": "abc"})
            assert digested.status is Status.SUCCEEDED, digested.error
        await counting.aclose()
    assert counting.seen == [
        (CodeLanguage.PYTHON, WorkKey(run.id, "py_0", (), 1)),
        (CodeLanguage.JAVASCRIPT, WorkKey(run.id, "js_0", (), 1)),
        ("call", WorkKey(digested.id, "digest_0", (), 1)),
    ]


async def test_work_in_a_loop_body_is_keyed_by_its_iteration() -> None:
    """examples/quickstart.json: a loop of JavaScript code nodes, then code nodes after a condition."""
    async with SandboxPool(1) as pool:
        counting = CountingWorkers(ThreadWorkers(sandbox=pool))
        async with flowloom.Engine(services=Services(workers=Lazy.of(counting))) as engine:
            run = await engine.run(EXAMPLES / "quickstart.json", QUICKSTART_INPUTS)
            assert run.status is Status.SUCCEEDED, run.error
        await counting.aclose()
    keys = [(key.node_id, key.scope) for _, key in counting.seen if key is not None]
    assert keys == [("line_0", (0,)), ("line_0", (1,)), ("line_0", (2,)), ("sum_0", ()), ("discount_0", ())]


class FlakyDigest(DigestExecutor):
    """Fails its first attempt after its work ran, so the retry's work gets the next attempt's key."""

    type: ClassVar[str] = "flaky-digest"

    def __init__(self) -> None:
        self.failed = False
        self.views: list[NodeWorkers] = []  # what ctx.workers gave, twice per attempt

    async def execute(self, ctx: NodeContext) -> NodeResult:
        self.views += [ctx.workers, ctx.workers]
        result = await super().execute(ctx)
        if not self.failed:
            self.failed = True
            raise RuntimeError("first attempt fails")
        return result


async def test_each_attempt_of_a_node_has_its_own_key() -> None:
    counting = CountingWorkers(ThreadWorkers())
    async with flowloom.Engine(services=Services(workers=Lazy.of(counting))) as engine:
        flaky = FlakyDigest()
        engine.register_executor(flaky)
        workflow = digest_workflow()
        workflow["nodes"][1] = {**workflow["nodes"][1], "type": "flaky-digest", "retry": {"maxAttempts": 2}}
        run = await engine.run(workflow, {"text": "x"})
        assert run.status is Status.SUCCEEDED, run.error
    await counting.aclose()
    assert [key.attempt for _, key in counting.seen if key is not None] == [1, 2]
    first, again, retry, retry_again = flaky.views  # one view per attempt, kept while the attempt runs
    assert first is again and retry is retry_again and first is not retry
    assert (first.key.attempt, retry.key.attempt) == (1, 2)


async def test_pipeline_sync_tasks_use_the_injected_workers_and_leave_them_open() -> None:
    counting = CountingWorkers(ThreadWorkers(max_workers=2, name="injected"))
    pipeline = Pipeline("counted", workers=counting)

    @pipeline.task()
    def source() -> int:
        return 20

    @pipeline.task()
    async def middle(source: int) -> int:
        return source + 1

    @pipeline.task()
    def sink(middle: int) -> int:
        return middle * 2

    async with pipeline:
        run_id = await pipeline.run_once()
        assert pipeline.get_run_report(run_id)["tasks"]["sink"]["result"] == 42
    assert [(kind, key.node_id if key else None) for kind, key in counting.seen] == [
        ("call", "source"),
        ("call", "sink"),
    ]
    assert all(key is not None and key.run_id == run_id for _, key in counting.seen)
    assert await counting.call(int, "3") == 3  # the pipeline did not close workers it was given
    await counting.aclose()


async def test_a_pipeline_takes_workers_or_an_executor_not_both() -> None:
    with (
        ThreadPoolExecutor(1) as executor,
        pytest.raises(ValueError, match="workers= or executor=, not both"),
    ):
        Pipeline("both", workers=ThreadWorkers(), executor=executor)


def test_an_engine_s_workers_serve_one_event_loop_after_another() -> None:
    """``flowloom.run_sync`` makes a new loop per call: the default workers keep working across them."""
    engine = flowloom.Engine()
    engine.register_executor(DigestExecutor())
    flowloom.set_default_engine(engine)
    try:
        first = flowloom.run_sync(digest_workflow(), {"text": "one"})
        second = flowloom.run_sync(digest_workflow(), {"text": "two"})
    finally:
        flowloom.set_default_engine(None)
        anyio.run(engine.aclose)
    assert first == {"digest": _digest("one", 3)[0], "offLoop": True}
    assert second == {"digest": _digest("two", 3)[0], "offLoop": True}


def test_node_executors_and_pipelines_start_no_threads_or_processes_of_their_own() -> None:
    """Blocking work goes through ``ctx.workers``: nothing in ``flowloom.nodes`` or ``flowloom.pipeline``
    makes a thread, a pool or a process."""
    forbidden = (
        "to_thread",
        "run_in_executor",
        "Thread(",
        "ThreadPoolExecutor",
        "ProcessPool",
        "subprocess",
        "open_process",
    )
    # Nodes whose job is to run a process, until Workers grows a method for commands: shell.exec (an anyio
    # process on the event loop, blocking nothing), and sandbox.exec / api.call (their bubblewrap command);
    # each in its own process group, killed on timeout or cancel; and shell.exec's blocking form, which only
    # ever runs as a ctx.workers.call on remote workers.
    allowed = {
        Path("nodes/automation/shell.py"),
        Path("nodes/automation/_command.py"),
        Path("nodes/sandboxes/_process.py"),
    }
    root = Path(flowloom.__file__).parent
    found = [
        f"{path.relative_to(root)}: {word}"
        for package in ("nodes", "pipeline")
        for path in sorted((root / package).rglob("*.py"))
        for word in forbidden
        if word in path.read_text() and path.relative_to(root) not in allowed
    ]
    assert found == []
