"""``Report.to_json`` and ``ValidationResult.to_json``: pydantic's wire form, whichever way it is made."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from flowloom.ir import (
    Message,
    Messages,
    NodeReport,
    Report,
    Snapshot,
    Status,
    StatusData,
    ValidationResult,
)


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


@pytest.mark.parametrize("nodes", [0, 3, 500])
def test_report_json_is_pydantics_wire_form(nodes: int) -> None:
    made = report(nodes)
    expected = made.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert json.dumps(made.to_json()) == json.dumps(expected)  # key order too
    assert made.to_json()["reports"].get("node_0", {}).get("startTime") == (
        1_700_000_000_000 if nodes else None
    )


@pytest.mark.parametrize("errors", [None, [], ["a", "b"]])
def test_validation_result_json_is_pydantics(errors: list[str] | None) -> None:
    result = ValidationResult.model_construct(valid=not errors, errors=errors)
    assert json.dumps(result.to_json()) == json.dumps(result.model_dump(mode="json", exclude_none=True))
