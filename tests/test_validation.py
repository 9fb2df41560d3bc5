"""Schema and input validation against every recorded case, plus inputs the corpus does not cover."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from _conformance import MissingCorpus, case_params, unwrap_case
from flowloom.formats.flowgram import validate_inputs
from flowloom.formats.flowgram._validation import MSG_CYCLE, MSG_NOT_OBJECT, validate_workflow_json

PREFIX = "JSON Schema validation failed: "
NO_OUTPUTS = PREFIX + 'start node "start_0" has no outputs schema'


def validate(schema: Any, inputs: Any) -> list[str]:
    """What validating a run reports: the schema errors, else the top-level start node's input errors."""
    errors = validate_workflow_json(schema)
    if errors:
        return errors
    start = next(node for node in schema["nodes"] if node["type"] == "start")
    data = start["data"]
    outputs = data.get("outputs") if isinstance(data, dict) else None
    return validate_inputs(start["id"], outputs, inputs)


@pytest.mark.parametrize("param", case_params())
def test_case(param: dict[str, Any] | MissingCorpus) -> None:
    case = unwrap_case(param)
    expect = case["expect"]
    schema = copy.deepcopy(case["schema"])
    errors = validate(schema, copy.deepcopy(case["inputs"]))
    assert schema == case["schema"], "validation must not modify the schema"
    assert expect["valid"] == (errors == []), errors
    if not expect["valid"]:
        assert errors == expect["validation_errors"]


# --- schemas --------------------------------------------------------------------------------------


def node(node_id: str, node_type: str, **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "meta": {"position": {"x": 0, "y": 0}}, "data": {}, **extra}


def edge(source: str, target: str) -> dict[str, Any]:
    return {"sourceNodeID": source, "targetNodeID": target}


def chain(length: int) -> dict[str, Any]:
    ids = ["start_0", *(f"code_{i}" for i in range(length - 2)), "end_0"]
    nodes = [node(ids[0], "start"), *(node(i, "code") for i in ids[1:-1]), node(ids[-1], "end")]
    return {"nodes": nodes, "edges": [edge(a, b) for a, b in itertools.pairwise(ids)]}


def test_long_chain_has_no_recursion_error() -> None:
    schema = chain(100_000)
    assert validate_workflow_json(schema) == []
    schema["edges"].append(edge("end_0", "code_0"))
    assert validate_workflow_json(schema) == [MSG_CYCLE]


def test_long_chain_inside_a_block() -> None:
    body = chain(100_000)
    body["nodes"][0]["type"], body["nodes"][-1]["type"] = "block-start", "block-end"
    loop = node("loop_0", "loop", blocks=body["nodes"], edges=body["edges"])
    schema = {"nodes": [node("start_0", "start"), loop, node("end_0", "end")], "edges": []}
    assert validate_workflow_json(schema) == []


@pytest.mark.parametrize("raw", [None, "workflow", [], [{"nodes": [], "edges": []}], 3, True])
def test_not_an_object(raw: object) -> None:
    assert validate_workflow_json(raw) == [MSG_NOT_OBJECT]


GARBAGE: list[Any] = [
    {},
    {"nodes": None, "edges": None},
    {"nodes": "abc", "edges": {}},
    {"nodes": [None, 1, "x", [], {}], "edges": [None, 1, "x", []]},
    {
        "nodes": [{"id": {"a": 1}, "type": ["start"]}, {"id": [1], "blocks": "b"}],
        "edges": [{"sourceNodeID": {}}],
    },
    {"nodes": [node("a", "start", blocks={"x": 1}, edges=0)], "edges": []},
    {
        "nodes": [node("a", "loop", blocks=[None, node("b", "x", blocks=[[]], edges=[None])], edges=5)],
        "edges": [],
    },
    {
        "nodes": [{"id": 10**400, "type": 1.5, "meta": [], "data": []}],
        "edges": [{"sourceNodeID": float("nan")}],
    },
]


@pytest.mark.parametrize("raw", GARBAGE)
def test_garbage_never_raises(raw: object) -> None:
    errors = validate_workflow_json(raw)
    assert errors
    assert all(isinstance(error, str) for error in errors)


def test_self_containing_blocks_terminate() -> None:
    loop = node("loop_0", "loop")
    loop["blocks"] = [node("block_start_0", "block-start"), loop, node("block_end_0", "block-end")]
    schema = {"nodes": [node("start_0", "start"), loop, node("end_0", "end")], "edges": []}
    assert validate_workflow_json(schema) == []


def test_javascript_object_and_truthiness_rules() -> None:
    # Arrays are objects for `meta`/`data`, and an empty `blocks` array is still a block sub-graph.
    schema = {"nodes": [node("start_0", "start", meta=[]), node("end_0", "end", blocks=[])], "edges": []}
    assert validate_workflow_json(schema) == [
        "Workflow block schema must have a block-start node and a block-end node"
    ]
    blank = {"nodes": [node("\u3000\ufeff", "start"), node("end_0", "end")], "edges": []}
    assert validate_workflow_json(blank) == ["nodes[0].id must be a non-empty string"]


def test_format_error_keeps_unrelated_errors_but_drops_follow_ons() -> None:
    schema = {
        "nodes": [node("start_0", "start", data={"title": 1}), node("a", "code")],
        "edges": [edge("start_0", "a"), edge("a", "start_0"), {"sourceNodeID": "", "targetNodeID": "a"}],
    }
    assert validate_workflow_json(schema) == [
        "nodes[0].data.title must be a string if present",
        MSG_CYCLE,
        "Workflow schema must have an end node",
    ]


# --- inputs ---------------------------------------------------------------------------------------


def props(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def input_errors(schema: object, inputs: object) -> list[str]:
    return [error.removeprefix(PREFIX) for error in validate_inputs("s", schema, inputs)]


def test_missing_outputs_schema() -> None:
    assert validate_inputs("start_0", None, {}) == [NO_OUTPUTS]


@pytest.mark.parametrize(
    ("schema", "value", "message"),
    [
        ({"type": "integer"}, True, "Expected integer at n, but got: true"),
        ({"type": "number"}, False, "Expected number at n, but got: false"),
        ({"type": "boolean"}, 1, "Expected boolean at n, but got: number"),
        ({"type": "boolean"}, None, "Expected boolean at n, but got: object"),
        ({"type": "integer"}, 1e21 + 0.5, None),
        ({"type": "integer"}, 10**400, "Expected integer at n, but got: null"),
        (
            {"type": "integer"},
            {"b": 1, "2": [1.0, None]},
            'Expected integer at n, but got: {"2":[1,null],"b":1}',
        ),
        ({"type": "integer"}, 1e-7, "Expected integer at n, but got: 1e-7"),
        ({"type": "integer"}, 0.000001, "Expected integer at n, but got: 0.000001"),
        ({"type": "integer"}, 1.5e-300, "Expected integer at n, but got: 1.5e-300"),
        ({"type": "integer"}, 1e300, None),
        ({"type": "integer"}, 'a\n"\ud800', 'Expected integer at n, but got: "a\\n\\"\\ud800"'),
        ({"type": "number", "enum": [1, 2.5, None, [True, [3]]]}, 1.0, None),
        (
            {"type": "number", "enum": [1, 2.5, None, [True, [3]]]},
            True,
            "Value at n must be one of: 1, 2.5, , true,3, but got: true",
        ),
        ({"type": ["string", "null"]}, "x", 'Unknown type "string,null" at n'),
        ({"enum": []}, "x", 'Unknown type "undefined" at n'),
        (None, "x", 'Unknown type "undefined" at n'),
        (
            {"type": "array", "items": {"type": "map", "additionalProperties": True}},
            [{"k": 1}],
            'Unknown type "undefined" at n[0].k',
        ),
        ({"type": "object", "required": [1]}, {"1": 0}, None),
        ({"type": "object", "required": [1]}, {}, 'Missing required property "1" at n'),
    ],
)
def test_input_messages(schema: object, value: object, message: str | None) -> None:
    assert input_errors(props(n=schema), {"n": value}) == ([] if message is None else [message])


def test_property_order_is_javascripts() -> None:
    schema = props(b={"type": "string"}, **{"10": {"type": "string"}, "2": {"type": "string"}})
    assert input_errors(schema, {"b": 0, "10": 0, "2": 0}) == ["Expected string at 2, but got: number"]


def test_root_value_and_root_named_property() -> None:
    assert input_errors(props(), None) == ["Expected object at root, but got: null"]
    nested = props(root=props(x={"type": "string"}))
    assert input_errors(nested, {"root": {"x": 1}}) == ["Expected string at x, but got: number"]


def test_deep_inputs_do_not_raise() -> None:
    schema: dict[str, Any] = {"type": "array"}
    value: list[Any] = []
    for _ in range(5000):
        schema = {"type": "array", "items": schema}
        value = [value]
    assert input_errors(schema, value) == ["inputs or their schema are nested too deeply"]
