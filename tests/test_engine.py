"""Engine behaviour beyond the upstream corpus: cancellation (D5), timeouts, retries, events, failure
policies, concurrency limits and scale."""

from __future__ import annotations

import gc
import os
import time
from typing import Any, ClassVar

import anyio
import pytest

import flowloom
from _workflows import chain, edge, end, js, node, ref, start
from flowloom import ir

pytestmark = pytest.mark.anyio


class Sleep:
    type: ClassVar[str] = "sleep"

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0

    async def execute(self, ctx: flowloom.NodeContext) -> flowloom.NodeResult:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await anyio.sleep(ctx.data["seconds"])
        finally:
            self.running -= 1
        return flowloom.NodeResult(outputs={"slept": ctx.data["seconds"]})


class Flaky:
    """Fails ``data.failures`` times, then succeeds."""

    type: ClassVar[str] = "flaky"

    def __init__(self) -> None:
        self.calls = 0

    async def execute(self, ctx: flowloom.NodeContext) -> flowloom.NodeResult:
        self.calls += 1
        if self.calls <= ctx.data["failures"]:
            raise flowloom.NodeError(f"flaky failure {self.calls}")
        return flowloom.NodeResult(outputs={"calls": self.calls})


class Boom:
    type: ClassVar[str] = "boom"
    traits: ClassVar[flowloom.Traits] = flowloom.Traits(lightweight=True)

    async def execute(self, ctx: flowloom.NodeContext) -> flowloom.NodeResult:
        raise RuntimeError("boom")


class LateBoom:
    """Fails after a short wait, while its siblings are in flight."""

    type: ClassVar[str] = "late-boom"

    async def execute(self, ctx: flowloom.NodeContext) -> flowloom.NodeResult:
        await anyio.sleep(0.05)
        raise RuntimeError("late boom")


class Pass:
    type: ClassVar[str] = "pass"
    traits: ClassVar[flowloom.Traits] = flowloom.Traits(lightweight=True)

    async def execute(self, ctx: flowloom.NodeContext) -> flowloom.NodeResult:
        return flowloom.NodeResult(outputs=ctx.inputs)


def engine_with(*executors: Any, **kwargs: Any) -> flowloom.Engine:
    engine = flowloom.Engine(**kwargs)
    for executor in executors:
        engine.register_executor(executor)
    return engine


def parallel(*branches: dict[str, Any], on_error: str | None = None) -> dict[str, Any]:
    """start -> each branch node -> end."""
    schema: dict[str, Any] = {
        "nodes": [start(), *branches, end()],
        "edges": [e for b in branches for e in (edge("start_0", b["id"]), edge(b["id"], "end_0"))],
    }
    if on_error:
        schema["settings"] = {"onError": on_error}
    return schema


async def test_cancel_stops_in_flight_nodes_promptly() -> None:
    engine = engine_with(Sleep())
    run = engine.start(chain(start(), node("sleep_0", "sleep", seconds=30), end()), {})
    await anyio.sleep(0.05)
    began = time.monotonic()
    assert run.cancel() is True
    await run.join(timeout=2)
    assert time.monotonic() - began < 1
    assert run.status is flowloom.Status.CANCELED
    report = run.report().to_json()
    assert report["reports"]["sleep_0"]["status"] == "canceled"
    assert "outputs" not in report["reports"]["sleep_0"]["snapshots"][0]
    assert "end_0" not in report["reports"]
    assert run.cancel() is False  # already ended: idempotent


async def test_cancel_kills_a_javascript_node_in_a_long_loop() -> None:
    """Past its inline budget a script runs in a sandbox worker process: cancel kills that process (D5)."""
    limits = flowloom.CodeLimits(time_limit_s=30)
    async with flowloom.Engine(services=flowloom.Services(code_limits=limits)) as engine:
        schema = chain(start(), js("code_0", "async function main() { while (true) {} }"), end())
        run = engine.start(schema, {})
        assert engine.services.sandbox is not None
        pool = engine.services.sandbox.get()
        with anyio.fail_after(10):
            while not pool.worker_pids():  # noqa: ASYNC110 (polling another process's state)
                await anyio.sleep(0.02)
        running = pool.worker_pids()
        began = time.monotonic()
        run.cancel()
        await run.join(timeout=5)
        assert time.monotonic() - began < 5
        assert run.status is flowloom.Status.CANCELED
        assert run.report().reports["code_0"].status is flowloom.Status.CANCELED
        assert not set(running) & set(pool.worker_pids())
        for pid in running:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


async def test_closing_the_engine_cancels_its_runs() -> None:
    async with engine_with(Sleep()) as engine:
        run = engine.start(chain(start(), node("sleep_0", "sleep", seconds=30), end()), {})
        await anyio.sleep(0.05)
    assert run.status is flowloom.Status.CANCELED
    assert run.report().reports["sleep_0"].status is flowloom.Status.CANCELED


async def test_rejected_runs_keep_the_given_id() -> None:
    run = flowloom.Engine().start({"nodes": [], "edges": []}, {}, run_id="my-run")
    assert (run.id, run.status) == ("my-run", flowloom.Status.FAILED)


async def test_node_timeout() -> None:
    engine = engine_with(Sleep())
    sleeper = {**node("sleep_0", "sleep", seconds=5), "timeoutS": 0.1}
    run = await engine.run(chain(start(), sleeper, end()), {})
    assert run.status is flowloom.Status.FAILED
    assert run.error == 'Node "sleep_0" timed out after 0.1s'


async def test_retry_with_backoff_then_success() -> None:
    flaky = Flaky()
    engine = engine_with(flaky)
    events: list[ir.Event] = []
    engine.bus.add_listener(events.append)
    retrying = {**node("f_0", "flaky", failures=2), "retry": {"maxAttempts": 3, "delayS": 0.01, "backoff": 2}}
    run = await engine.run(chain(start(), retrying, end()), {})
    assert run.status is flowloom.Status.SUCCEEDED
    assert flaky.calls == 3
    retries = [e for e in events if isinstance(e, ir.NodeRetrying)]
    assert [(e.attempt, e.delay_s, e.error) for e in retries] == [
        (1, 0.01, "flaky failure 1"),
        (2, 0.02, "flaky failure 2"),
    ]


async def test_retry_gives_up_with_the_last_error() -> None:
    engine = engine_with(Flaky())
    retrying = {**node("f_0", "flaky", failures=5), "retry": {"maxAttempts": 2}}
    run = await engine.run(chain(start(), retrying, end()), {})
    assert run.status is flowloom.Status.FAILED
    assert run.error == "flaky failure 2"


def test_retry_delay_is_capped() -> None:
    policy = ir.RetryPolicy(max_attempts=10, delay_s=1, backoff=3, max_delay_s=5)
    assert [policy.delay_before(a) for a in range(2, 6)] == [1, 3, 5, 5]


async def test_events_in_order() -> None:
    engine = engine_with(Pass())
    assert engine.bus.active is False
    events: list[ir.Event] = []
    remove = engine.bus.add_listener(events.append)
    run = await engine.run(chain(start(), node("p_0", "pass"), end()), {})
    remove()
    assert engine.bus.active is False
    kinds = [(type(e).__name__, getattr(e, "node_id", None)) for e in events]
    assert kinds == [
        ("RunStarted", None),
        ("NodeStarted", "start_0"),
        ("NodeSucceeded", "start_0"),
        ("NodeStarted", "p_0"),
        ("NodeSucceeded", "p_0"),
        ("NodeStarted", "end_0"),
        ("NodeSucceeded", "end_0"),
        ("RunFinished", None),
    ]
    assert all(e.run_id == run.id for e in events)


async def test_event_subscription_stream() -> None:
    engine = engine_with(Pass())
    seen: list[str] = []
    async with engine.bus.subscribe() as stream:
        await engine.run(chain(start(), node("p_0", "pass"), end()), {})
        while True:
            event = stream.receive_nowait()
            seen.append(type(event).__name__)
            if isinstance(event, ir.RunFinished):
                break
    assert seen[0] == "RunStarted" and seen.count("NodeSucceeded") == 3


async def test_a_failing_listener_never_breaks_a_run() -> None:
    engine = engine_with(Pass())

    def broken(event: ir.Event) -> None:
        raise ValueError("listener bug")

    engine.bus.add_listener(broken)
    run = await engine.run(chain(start(), node("p_0", "pass"), end()), {})
    assert run.status is flowloom.Status.SUCCEEDED


async def test_on_error_stop_cancels_siblings_in_flight() -> None:
    engine = engine_with(Sleep(), LateBoom())
    began = time.monotonic()
    run = await engine.run(parallel(node("boom_0", "late-boom"), node("sleep_0", "sleep", seconds=30)), {})
    assert time.monotonic() - began < 5
    assert run.status is flowloom.Status.FAILED
    assert run.error == "late boom"
    assert run.report().reports["sleep_0"].status is flowloom.Status.CANCELED


async def test_on_error_stop_starts_nothing_after_a_failure() -> None:
    engine = engine_with(Sleep(), Boom())
    run = await engine.run(parallel(node("boom_0", "boom"), node("sleep_0", "sleep", seconds=30)), {})
    assert run.status is flowloom.Status.FAILED
    assert "sleep_0" not in run.report().reports


async def test_on_error_continue_skips_dependents_and_finishes_the_rest() -> None:
    engine = engine_with(Boom(), Pass())
    schema = {
        "nodes": [start(), node("boom_0", "boom"), node("after_0", "pass"), node("other_0", "pass"), end()],
        "edges": [
            edge("start_0", "boom_0"),
            edge("boom_0", "after_0"),
            edge("after_0", "end_0"),
            edge("start_0", "other_0"),
            edge("other_0", "end_0"),
        ],
        "settings": {"onError": "continue"},
    }
    run = await engine.run(schema, {})
    reports = run.report().reports
    assert run.status is flowloom.Status.FAILED
    assert reports["other_0"].status is flowloom.Status.SUCCEEDED
    assert reports["after_0"].status is flowloom.Status.SKIPPED
    assert reports["end_0"].status is flowloom.Status.SUCCEEDED  # one live input is enough for a join


async def test_max_parallel_caps_concurrent_nodes() -> None:
    sleeper = Sleep()
    engine = engine_with(sleeper, max_parallel=2)
    run = await engine.run(parallel(*(node(f"s_{i}", "sleep", seconds=0.02) for i in range(6))), {})
    assert run.status is flowloom.Status.SUCCEEDED
    assert sleeper.peak == 2


async def test_hundred_thousand_node_chain() -> None:
    n = 100_000
    typed = {
        "inputs": {"type": "object", "properties": {"x": {"type": "number"}}},
        "outputs": {"type": "object", "properties": {"x": {"type": "number"}}},
    }
    nodes = [start(x="number")]
    for i in range(n):
        nodes.append(node(f"p_{i}", "pass", inputsValues={"x": ref(nodes[-1]["id"], "x")}, **typed))
    nodes.append(end(x=ref(f"p_{n - 1}", "x")))
    engine = engine_with(Pass())
    run = await engine.run(chain(*nodes), {"x": 7})
    assert run.status is flowloom.Status.SUCCEEDED, run.error
    assert run.outputs == {"x": 7}
    assert len(run.report().reports) == n + 2


class CountTracked(Pass):
    """A pass node that, on its ``data.at``-th call, counts the objects the cyclic collector tracks."""

    type: ClassVar[str] = "count-tracked"

    def __init__(self) -> None:
        self.calls = 0
        self.counts: list[int] = []

    async def execute(self, ctx: flowloom.NodeContext) -> flowloom.NodeResult:
        self.calls += 1
        if self.calls == ctx.data["at"]:
            gc.collect()
            self.counts.append(len(gc.get_objects()))
        return await super().execute(ctx)


async def test_a_running_chain_leaves_few_tracked_objects_per_node() -> None:
    """Every object a large run keeps alive is traversed again by each later full collection of the
    cyclic collector, so the records and scope of a run of plain values must keep few of them: a node's
    record (its own first snapshot), not a snapshot, list, dict and typed value as well."""
    n = 2_000
    counter = CountTracked()
    x = {"type": "object", "properties": {"x": {"type": "integer"}}}
    nodes = [start(x="integer")]
    for i in range(n):
        data = {"inputs": x, "outputs": x, "inputsValues": {"x": ref(nodes[-1]["id"], "x")}, "at": -1}
        nodes.append(node(f"p_{i}", "count-tracked", **data))
    nodes.append(end(x=ref(f"p_{n - 1}", "x")))
    # The second run counts at its first node and at its last (the first run warms up).
    nodes[1]["data"]["at"], nodes[-2]["data"]["at"] = n + 1, 2 * n
    engine = engine_with(counter)
    compiled = engine.load(chain(*nodes))
    for _ in range(2):
        run = await engine.run(compiled, {"x": 3})
        assert run.outputs == {"x": 3}
    before, during = counter.counts
    assert (during - before) / n <= 1.1


async def test_javascript_failures_leave_the_engine_usable() -> None:
    limits = flowloom.CodeLimits(time_limit_s=0.3, memory_bytes=8 << 20)
    async with flowloom.Engine(services=flowloom.Services(code_limits=limits)) as engine:
        await _javascript_failures(engine)


async def _javascript_failures(engine: flowloom.Engine) -> None:
    hog = "async function main() { const a = []; while (true) a.push(new Array(1e5).fill(1)); }"
    scripts = {
        "async function main() { throw new Error('bad'); }": 'Code execution failed: {"name":"Error"',
        "async function main() { while (true) {} }": "Code execution failed: interrupted",
        hog: "Code execution failed: out of memory",
    }
    for script, message in scripts.items():
        run = await engine.run(chain(start(), js("code_0", script), end()), {})
        assert run.status is flowloom.Status.FAILED
        assert run.error is not None and run.error.startswith(message), run.error
        good = await engine.run(
            chain(
                start(),
                js("code_0", "async function main() { return { y: 1 }; }", y="number"),
                end(y=ref("code_0", "y")),
            ),
            {},
        )
        assert good.outputs == {"y": 1}
