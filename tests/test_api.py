"""The Python API: run, start/Run, run_sync, validate, register_executor, sources."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import anyio
import pytest

import flowloom
from _workflows import chain, double_x, end, js, node, ref, start

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def fresh_default_engine() -> Iterator[None]:
    flowloom.set_default_engine(None)
    yield
    flowloom.set_default_engine(None)


class Sleep:
    """A node that sleeps ``data.seconds``."""

    type: ClassVar[str] = "sleep"

    async def execute(self, ctx: flowloom.NodeContext) -> flowloom.NodeResult:
        await anyio.sleep(ctx.data["seconds"])
        return flowloom.NodeResult(outputs={"slept": ctx.data["seconds"]})


def sleepy(seconds: float) -> dict[str, Any]:
    return chain(start(), node("sleep_0", "sleep", seconds=seconds), end())


async def test_run_returns_outputs() -> None:
    assert await flowloom.run(double_x(), {"x": 21}) == {"y": 42}


@pytest.mark.parametrize("form", ["dict", "json", "path", "path-text", "file", "workflow"])
async def test_schema_forms(form: str, tmp_path: Path) -> None:
    schema = double_x()
    text = json.dumps(schema)
    path = tmp_path / "wf.json"
    path.write_text(text)
    source: Any = {
        "dict": schema,
        "json": text,
        "path": path,
        "path-text": str(path),
        "file": io.StringIO(text),
        "workflow": flowloom.formats.flowgram.to_workflow(schema),
    }[form]
    assert await flowloom.run(source, {"x": 2}) == {"y": 4}


async def test_loader_never_mutates_its_input() -> None:
    schema = json.loads((Path(__file__).parents[1] / "examples" / "quickstart.json").read_text())
    inputs = json.loads((Path(__file__).parents[1] / "examples" / "quickstart.inputs.json").read_text())
    before = copy.deepcopy((schema, inputs))
    await flowloom.run(schema, inputs)
    assert (schema, inputs) == before


async def test_start_wait_status_report() -> None:
    run = flowloom.start(double_x(), {"x": 1})
    assert run.status in (flowloom.Status.PENDING, flowloom.Status.PROCESSING)
    assert await run.wait(timeout=10) == {"y": 2}
    assert run.status is flowloom.Status.SUCCEEDED
    report = run.report().to_json()
    assert set(report) == {"id", "inputs", "outputs", "workflowStatus", "reports", "messages"}
    assert set(report["messages"]) == {"log", "info", "debug", "error", "warning"}
    assert report["workflowStatus"]["status"] == "succeeded" and report["workflowStatus"]["terminated"]
    assert set(report["reports"]) == {"start_0", "code_0", "end_0"}
    snapshot = report["reports"]["code_0"]["snapshots"][0]
    assert snapshot["inputs"] == {"x": 1} and snapshot["outputs"] == {"y": 2}
    assert snapshot["data"]["script"]["language"] == "javascript"
    assert run.report().reports["code_0"].status is flowloom.Status.SUCCEEDED


async def test_wait_timeout_raises_and_run_goes_on() -> None:
    flowloom.register_executor(Sleep())
    run = flowloom.start(sleepy(0.3), {})
    with pytest.raises(TimeoutError):
        await run.wait(timeout=0.05)
    assert await run.wait(timeout=5) == {}
    assert run.status is flowloom.Status.SUCCEEDED


async def test_wait_raises_for_a_failed_or_canceled_run() -> None:
    failed = flowloom.start(chain(start(), js("code_0", "function main() { throw 'nope'; }"), end()), {})
    with pytest.raises(flowloom.RunFailedError, match="nope") as caught:
        await failed.wait(timeout=10)
    assert caught.value.run is failed and failed.status is flowloom.Status.FAILED
    flowloom.register_executor(Sleep())
    canceled = flowloom.start(sleepy(10), {})
    await anyio.sleep(0.05)
    canceled.cancel()
    with pytest.raises(flowloom.RunFailedError, match="canceled"):
        await canceled.wait(timeout=10)
    await canceled.join(timeout=1)  # join waits without judging the outcome
    assert canceled.status is flowloom.Status.CANCELED


async def test_a_path_given_as_text_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    with pytest.raises(flowloom.InvalidWorkflowError, match=f"cannot read workflow file {missing}"):
        await flowloom.run(str(missing), {})


async def test_failed_run_raises_with_report() -> None:
    schema = chain(start(), js("code_0", "async function main() { throw 'nope'; }"), end())
    with pytest.raises(flowloom.RunFailedError, match="Code execution failed: nope") as caught:
        await flowloom.run(schema, {})
    assert caught.value.run.report().reports["code_0"].status is flowloom.Status.FAILED


def test_run_sync_outside_a_loop() -> None:
    assert flowloom.run_sync(double_x(), {"x": 5}) == {"y": 10}


async def test_run_sync_refuses_inside_a_loop() -> None:
    with pytest.raises(RuntimeError, match=r"use `await flowloom.run\(\)`"):
        flowloom.run_sync(double_x(), {"x": 5})


def test_validate() -> None:
    assert flowloom.validate(double_x(), {"x": 1}).to_json() == {"valid": True}
    result = flowloom.validate(double_x(), {"x": "one"})
    assert result.to_json() == {
        "valid": False,
        "errors": ['JSON Schema validation failed: Expected number at x, but got: "one"'],
    }


async def test_register_executor_and_duplicates() -> None:
    class Sentiment:
        type: ClassVar[str] = "sentiment"

        async def execute(self, ctx: flowloom.NodeContext) -> flowloom.NodeResult:
            return flowloom.NodeResult(outputs={"score": 0.87 if "good" in ctx.inputs["text"] else 0.1})

    flowloom.register_executor(Sentiment())
    schema = chain(
        start(text="string"),
        {
            **node(
                "s_0",
                "sentiment",
                inputs={"type": "object", "properties": {"text": {"type": "string"}}},
                inputsValues={"text": ref("start_0", "text")},
                outputs={"type": "object", "properties": {"score": {"type": "number"}}},
            )
        },
        end(score=ref("s_0", "score")),
    )
    assert await flowloom.run(schema, {"text": "good day"}) == {"score": 0.87}
    with pytest.raises(ValueError, match='node type "sentiment" is already registered'):
        flowloom.register_executor(Sentiment())


def test_default_engine_is_replaceable() -> None:
    mine = flowloom.Engine()
    flowloom.set_default_engine(mine)
    assert flowloom.default_engine() is mine
