"""Fuzzing every loader and input check (issue 21): random JSON, and the recorded conformance workflows
mutated at random, fed to document reading, format detection and loading, the engine's validation (upstream's
and strict), the flowgram input check and the CLI's JSON options. Each must answer with a result or a typed
error (``InvalidWorkflowError``, ``UsageProblem``), never another exception.

Bounded (a few hundred examples per test, no example database, derandomized so that CI is repeatable):
``HYPOTHESIS_FUZZ_EXAMPLES`` raises the count for a longer hunt."""

from __future__ import annotations

import copy
import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flowloom
from _conformance import load_cases
from flowloom.cli._inputs import UsageProblem, parse_json_text, read_json_object
from flowloom.formats import JsonText, default_formats, read_document
from flowloom.formats.flowgram import validate_inputs, validate_workflow_json
from flowloom.formats.flowgram._settings import settings_problems

EXAMPLES = int(os.environ.get("HYPOTHESIS_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=os.environ.get("HYPOTHESIS_FUZZ_RANDOM") is None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=24,
)
# keys and values a workflow document uses, so that random documents get past the first checks
WORDS = (
    "nodes edges id type data meta blocks sourceNodeID targetNodeID sourcePortID inputs outputs inputsValues "
    "properties content ref constant template start end code loop condition start_0 end_0 retry timeoutS "
    "cache format flowloom source target loopFor block-start block-end maxAttempts ttlS"
).split()
word_keys = st.sampled_from(WORDS) | st.text(max_size=6)
workflow_like = st.recursive(
    scalars | st.sampled_from(WORDS),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(word_keys, inner, max_size=5),
    max_leaves=40,
)

ENGINE = flowloom.Engine()
FORMATS = default_formats()
CASES = [case["schema"] for case in load_cases()]


def exercise(document: Any, inputs: Any = None) -> None:
    """Everything a front door does with a document; only typed errors may come out."""
    try:
        parsed, _digest = read_document(JsonText(json.dumps(document)))
    except flowloom.InvalidWorkflowError:
        return
    validate_workflow_json(parsed)
    try:
        FORMATS.load(parsed)
    except flowloom.InvalidWorkflowError:
        pass
    for strict in (False, True):
        result = ENGINE.validate(parsed, inputs if isinstance(inputs, dict) else None, strict=strict)
        assert result.valid is (not result.errors)
    if isinstance(parsed, dict):
        settings_problems(parsed)


@FUZZ
@given(workflow_like, json_values)
def test_random_documents_get_typed_errors_only(document: Any, inputs: Any) -> None:
    exercise(document, inputs)


def mutate(document: Any, data: st.DataObject) -> Any:
    """``document`` with one to three random changes: a value replaced, a key removed, a list item
    dropped or duplicated, at a random depth."""
    mutated = copy.deepcopy(document)
    for _ in range(data.draw(st.integers(1, 3))):
        parent, key = _random_slot(mutated, data)
        if parent is None:
            return data.draw(workflow_like)
        action = data.draw(st.sampled_from(["replace", "remove", "duplicate"]))
        if action == "replace":
            parent[key] = data.draw(workflow_like)
        elif action == "remove":
            del parent[key]
        elif isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
    return mutated


def _random_slot(document: Any, data: st.DataObject) -> tuple[Any, Any]:
    parent: Any = None
    key: Any = None
    current = document
    while isinstance(current, dict | list) and current and data.draw(st.booleans()):
        keys = list(current) if isinstance(current, dict) else list(range(len(current)))
        parent, key = current, data.draw(st.sampled_from(keys))
        current = current[key]
    return parent, key


@FUZZ
@given(st.sampled_from(CASES), st.data())
def test_mutated_conformance_workflows_get_typed_errors_only(schema: Any, data: st.DataObject) -> None:
    exercise(mutate(schema, data), data.draw(json_values))


@FUZZ
@given(st.text(max_size=8), workflow_like, json_values)
def test_the_flowgram_input_check_never_raises(start_id: str, schema: Any, inputs: Any) -> None:
    errors = validate_inputs(start_id, schema, inputs)
    assert isinstance(errors, list) and all(isinstance(e, str) for e in errors)


@FUZZ
@given(st.text(max_size=40) | json_values.map(json.dumps))
def test_json_options_of_the_cli_get_usage_problems_only(text: str) -> None:
    try:
        parse_json_text(text, "--inputs")
        read_json_object(text)
    except UsageProblem as problem:
        assert str(problem)


@FUZZ
@given(st.binary(max_size=64))
def test_json_option_files_of_any_bytes_get_usage_problems_only(content: bytes) -> None:
    from tempfile import NamedTemporaryFile

    with NamedTemporaryFile(suffix=".json") as file:
        file.write(content)
        file.flush()
        try:
            assert isinstance(read_json_object(f"@{file.name}"), dict)
        except UsageProblem as problem:
            assert file.name in str(problem)


def _with(edit: Any) -> dict[str, Any]:
    from _workflows import double_x

    workflow = double_x()
    edit(workflow)
    return workflow


FOUND = {
    # what the fuzzing found on the way, each once a TypeError or AttributeError out of the loader
    "data-is-an-array": _with(lambda w: w["nodes"][1].update(data=[])),
    "inputs-values-is-an-array": _with(lambda w: w["nodes"][2]["data"].update(inputsValues=[["y", 1]])),
    "schema-properties-null": _with(lambda w: w["nodes"][0]["data"]["outputs"].update(properties=None)),
}


def test_what_the_fuzzing_found_loads_or_is_refused_cleanly() -> None:
    for name, document in FOUND.items():
        loaded = ENGINE.load(document)  # upstream runs these: a key of the wrong shape reads as absent
        assert loaded.workflow.nodes, name
    refused = ENGINE.validate("workflow\x00.json")  # a path with a NUL character: ValueError before
    assert refused.errors is not None and "cannot read workflow file" in refused.errors[0]
