"""Malformed VisualFlow documents: every class of flow the corpus refuses at compile time is refused with the
corpus's text, naming the flow and where in it the problem is (node, pin, wire); the CLI answers exit 2
without a traceback; and the 140 real editor flows, mutated at random, load or are refused with a typed
error, never another exception."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowloom import Engine
from flowloom.ir import InvalidWorkflowError
from test_visualflow_conformance import corpus_dir

FLOWLOOM = Path(sys.executable).parent / "flowloom"

# corpus case -> what the message must also name (the where), besides the corpus's own text
WHERE: dict[str, tuple[str, ...]] = {
    "core-exec-fanout-refused": ("node 'start'", "'exec-out'"),
    "core-missing-flow-id": ("'id'",),
    "core-two-data-edges-one-pin": ("pin 'a'", "node 'add'"),
    "core-unknown-type-connected": ("Node 'mystery'",),
    "core-unsupported-exec-handle": ("Node 'sv'", "'sideways'"),
    "ctl-loop-back-out-of-body": ("Body.exec-out", "Each item"),
    "ctl-reroute-cycle-refused": ("'r2'",),
    "ctl-reroute-exec-refused": ("reroute '",),
    "me-duplicate-exec-edges": ("Node 'a'", "'s::exec-out'"),
    "me-duplicate-route-keys": ("Node 'node-ask'",),
    "me-override-missing-node": ("Node 'node-ask'", "inputRouteOverrides.prompt", "'ghost'"),
    "me-override-unknown-route": ("Node 'node-ask'", "inputRouteOverrides.prompt", "'nope::x'"),
    "me-route-metadata-extra-routes": ("Node 'show'",),
}


def case(case_id: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((corpus_dir() / "cases" / f"{case_id}.json").read_text())
    return loaded


def refusal(document: Any) -> str:
    with pytest.raises(InvalidWorkflowError) as refused:
        Engine().load(document, format="visualflow")
    return "; ".join(refused.value.errors)


def test_every_compile_error_class_of_the_corpus_is_listed_here() -> None:
    """The corpus's flows refused at compile time (exit 2), bar those of code nodes and pin expressions
    (their sandbox is another part's), are exactly the cases above."""
    refused = set()
    for path in (corpus_dir() / "cases").glob("*.json"):
        loaded = json.loads(path.read_text())
        if "flow" in loaded and any(step["expect"].get("exit") == 2 for step in loaded["steps"][:1]):
            refused.add(loaded["id"])
    assert refused - {"fnlib-import-refused", "pinexpr-unparseable"} == set(WHERE)


@pytest.mark.parametrize("case_id", sorted(WHERE))
def test_a_refused_flow_is_named_with_what_and_where(case_id: str) -> None:
    loaded = case(case_id)
    message = refusal(loaded["flow"])
    assert loaded["steps"][0]["expect"]["error_contains"] in message  # what: the corpus's words
    for where in WHERE[case_id]:
        assert where in message
    flow_id = loaded["flow"].get("id")
    if flow_id:
        assert f"VisualFlow '{flow_id}'" in message


def _node(node_id: str, node_type: str, inputs: list[str], outputs: list[str]) -> dict[str, Any]:
    def pins(ids: list[str]) -> list[dict[str, str]]:
        return [{"id": i, "type": "execution" if i.startswith("exec") else "any"} for i in ids]

    return {
        "id": node_id,
        "type": node_type,
        "data": {"nodeType": node_type, "inputs": pins(inputs), "outputs": pins(outputs)},
    }


def test_two_nodes_with_one_id_are_refused_as_abstractruntime_does() -> None:
    start = _node("start", "on_flow_start", [], ["exec-out"])
    end = _node("end", "on_flow_end", ["exec-in"], [])
    wire = {"source": "start", "sourceHandle": "exec-out", "target": "end", "targetHandle": "exec-in"}
    message = refusal({"id": "twice", "nodes": [start, end, end], "edges": [wire]})
    assert message == "Node 'end' already exists in flow 'twice'"


def test_the_cli_refuses_a_malformed_flow_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    flow = tmp_path / "fanout.json"
    flow.write_text(json.dumps(case("core-exec-fanout-refused")["flow"]))
    done = subprocess.run(
        [str(FLOWLOOM), "run", str(flow), "--json", "--no-store"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    said = done.stdout + done.stderr
    assert "has multiple outgoing edges" in said and "node 'start'" in said
    assert "Traceback" not in said


@cache
def editor_flows() -> list[dict[str, Any]]:
    folder = corpus_dir() / "abstractflow" / "flows"
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))[:40]]


scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=6)
junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*prefix, index))
    return found


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.data())
def test_mutated_editor_flows_load_or_are_refused_with_a_typed_error(data: st.DataObject) -> None:
    flow = copy.deepcopy(data.draw(st.sampled_from(editor_flows())))
    paths = _paths(flow)
    for _ in range(data.draw(st.integers(1, 4))):
        shallow = [
            path for path in paths if len(path) <= 4
        ] or paths  # the structure: nodes, data, pins, edges
        path = data.draw(st.sampled_from(shallow if data.draw(st.booleans()) else paths))
        parent = flow
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = data.draw(junk)
        paths = _paths(flow)
        if not paths:
            break
    try:
        Engine().load(flow, format="visualflow")
    except InvalidWorkflowError as refused:
        assert refused.errors and all(isinstance(e, str) and e for e in refused.errors)
