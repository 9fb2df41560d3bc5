"""Every recorded upstream case, run end to end through the Python API and compared with its expectation.

Cases that need a service this issue does not ship yet (the HTTP echo server, the LLM mock, the Python
code sandbox) are deselected by name in ``conftest.py`` and listed in the test summary; they are not
skipped silently.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import flowloom
from _conformance import case_params, unwrap_case

pytestmark = pytest.mark.anyio


def _substitute(value: Any, servers: dict[str, str]) -> Any:
    if isinstance(value, str):
        for placeholder, url in servers.items():
            value = value.replace(placeholder, url)
        return value
    if isinstance(value, list):
        return [_substitute(v, servers) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, servers) for k, v in value.items()}
    return value


# Nothing listens on port 1: a case that contacts an unreplaced server fails loudly.
_UNUSED_SERVERS = {"{{HTTP_ECHO}}": "http://127.0.0.1:1", "{{LLM_MOCK}}": "http://127.0.0.1:1"}


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality: key order does not matter and 2 equals 2.0 (but true is not 1)."""
    return json.dumps(_normal(a), sort_keys=True) == json.dumps(_normal(b), sort_keys=True)


def _normal(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case", case_params())
async def test_case(case: Any) -> None:
    case = unwrap_case(case)
    schema = _substitute(case["schema"], _UNUSED_SERVERS)
    inputs = _substitute(case["inputs"], _UNUSED_SERVERS)
    expect = case["expect"]
    engine = flowloom.Engine()

    validation = engine.validate(json.dumps(schema), inputs)
    assert validation.valid == expect["valid"]
    if not expect["valid"]:
        assert validation.errors == expect["validation_errors"]

    run = engine.start(json.dumps(schema), inputs)
    await run.wait(timeout=30)
    report = run.report().to_json()

    assert run.status == expect["status"]
    assert _json_equal(run.outputs, expect["outputs"]), run.outputs
    assert [m["message"] for m in report["messages"]["error"]] == expect["messages_error"]
    assert set(report["reports"]) == set(expect["nodes"]), "nodes with a report entry"
    for node_id, want in expect["nodes"].items():
        got = report["reports"][node_id]
        snapshots = got["snapshots"]
        assert (node_id, got["status"]) == (node_id, want["status"])
        assert (node_id, len(snapshots)) == (node_id, want["runs"])
        if "branch" in want:
            assert (node_id, snapshots[-1].get("branch")) == (node_id, want["branch"])
        if "branches" in want:
            assert [s.get("branch") for s in snapshots] == want["branches"]
        if "error" in want:
            failed = [s for s in snapshots if "error" in s]
            assert failed, f"{node_id} has no failed snapshot"
            assert (node_id, failed[-1]["error"]) == (node_id, want["error"])
    if "warnings" in expect:
        warnings = report["messages"]["warning"]
        assert len(warnings) == len(expect["warnings"])
        for warning, want in zip(warnings, expect["warnings"], strict=True):
            assert warning["nodeID"] == want["nodeID"]
            assert want["key"] in warning["message"]
