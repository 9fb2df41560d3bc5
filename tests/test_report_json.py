"""The wire form of reports, validation results and stored workflows (``wire_json``), and the loaders'
``construct``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from _conformance import load_cases
from flowloom import Pipeline
from flowloom.formats import flowgram
from flowloom.ir import (
    Edge,
    JsonSchema,
    Message,
    Messages,
    Node,
    NodeReport,
    Report,
    RetryPolicy,
    Snapshot,
    Status,
    StatusData,
    ValidationResult,
    Workflow,
    WorkflowSettings,
    construct,
    wire_json,
)
from flowloom.pipeline._compile import to_workflow

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def node_report(node_id: str, **values: Any) -> NodeReport:
    snapshots = [
        Snapshot.model_construct(
            id=f"{node_id}-1",
            node_id=node_id,
            inputs={"text": "naïve ✓", "none": None, "pair": (1, 2.5), "nan": math.nan},
            outputs={"nested": {"list": [None, True, {"inf": -math.inf}]}, "status": Status.FAILED},
            data={"title": "n"},
            branch="true",
            error="boom",
        ),
        Snapshot.model_construct(id=f"{node_id}-2", node_id=node_id, inputs={}, outputs=None, data={}),
    ]
    return NodeReport.model_construct(
        id=node_id,
        status=Status.SUCCEEDED,
        terminated=True,
        start_time=1_700_000_000_000,
        end_time=None,
        time_cost=3,
        snapshots=snapshots,
        **values,
    )


def report(nodes: int) -> Report:
    message = Message.model_construct(id="m", type="error", message="it broke", node_id=None, timestamp=7)
    return Report.model_construct(
        id="run",
        inputs={"x": 1, "tuple": (1, "a")},
        outputs={},
        workflow_status=StatusData.model_construct(
            status=Status.FAILED, terminated=True, start_time=1, end_time=2, time_cost=1
        ),
        reports={f"node_{i}": node_report(f"node_{i}") for i in range(nodes)},
        messages=Messages.model_construct(
            error=[
                message,
                Message.model_construct(id="w", type="warning", message="hm", node_id="a", timestamp=8),
            ]
        ),
    )


def test_report_json_is_the_upstream_wire_form() -> None:
    """camelCase keys, absent optionals left out, tuples as lists, NaN and infinities as null."""
    wire = report(2).to_json()
    assert list(wire) == ["id", "inputs", "outputs", "workflowStatus", "reports", "messages"]
    assert wire["inputs"] == {"x": 1, "tuple": [1, "a"]}
    assert wire["workflowStatus"] == {
        "status": "failed",
        "terminated": True,
        "startTime": 1,
        "endTime": 2,
        "timeCost": 1,
    }
    node = wire["reports"]["node_0"]
    assert "endTime" not in node and node["startTime"] == 1_700_000_000_000
    first, second = node["snapshots"]
    assert first["nodeID"] == "node_0" and first["inputs"]["nan"] is None
    assert first["outputs"] == {"nested": {"list": [None, True, {"inf": None}]}, "status": "failed"}
    assert "outputs" not in second
    assert wire["messages"]["error"][0] == {"id": "m", "type": "error", "message": "it broke", "timestamp": 7}
    json.dumps(wire, allow_nan=False)  # plain JSON


@pytest.mark.parametrize("errors", [None, ["a", "b"]])
def test_validation_result_json_leaves_out_absent_errors(errors: list[str] | None) -> None:
    result = ValidationResult.model_construct(valid=not errors, errors=errors)
    assert result.to_json() == ({"valid": True} if errors is None else {"valid": False, "errors": errors})


def assert_round_trips(model: Workflow) -> None:
    """The stored form (``wire_json``, as ``workflow_document`` stores it) reads back as the same workflow."""
    stored = json.loads(json.dumps(wire_json(model)))
    assert Workflow.model_validate(stored) == model


def test_stored_workflow_json_reads_back_for_every_conformance_case() -> None:
    """Every loadable case: nested blocks, schemas with extras, retry and cache policies, settings."""
    loaded = 0
    for case in load_cases():
        if flowgram.validate_workflow_json(case["schema"]):
            continue  # a case of an invalid workflow
        assert_round_trips(flowgram.to_workflow(case["schema"]))
        loaded += 1
    assert loaded > 50


def test_stored_workflow_json_reads_back_for_the_quickstart_and_a_pipeline() -> None:
    quickstart = json.loads((EXAMPLES / "quickstart.json").read_text(encoding="utf-8"))
    assert_round_trips(flowgram.to_workflow(quickstart))
    pipeline = Pipeline("p")

    @pipeline.task()
    def a() -> int:
        return 1

    @pipeline.task()
    def b(a: int) -> int:
        return a + 1

    assert_round_trips(to_workflow("p", pipeline.registry, {"a", "b"}, max_parallel=4))


def test_construct_builds_what_model_construct_builds() -> None:
    """The loaders' ``construct``: the same field values in the same order, set fields, extras; an alias
    key is left to ``model_construct``, which maps it."""
    cases: list[tuple[type[BaseModel], dict[str, Any]]] = [
        (JsonSchema, {"type": "integer"}),
        (JsonSchema, {"type": "object", "x-extra": [1], "properties": {}, "default": None}),
        (JsonSchema, {"additionalProperties": True}),
        (Node, {"id": "a", "type": "t"}),
        (Node, {"type": "t", "unknown": 1}),
        (Edge, {"source": "a", "target": "b", "source_port": "p"}),
        (Workflow, {"nodes": []}),
        (WorkflowSettings, {}),
        (RetryPolicy, {"max_attempts": 3}),
    ]
    for cls, values in cases:
        made, expected = construct(cls, values), cls.model_construct(**values)
        assert list(made.__dict__.items()) == list(expected.__dict__.items()), (cls, values)
        assert made.model_fields_set == expected.model_fields_set, (cls, values)
        assert made.__pydantic_extra__ == expected.__pydantic_extra__, (cls, values)
        assert made == expected
    first, second = construct(Node, {"id": "a", "type": "t"}), construct(Node, {"id": "b", "type": "t"})
    assert first.data is not second.data  # a default factory's value is made anew
