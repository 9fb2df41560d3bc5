"""Every recorded upstream case, run end to end through the Python API and compared with its expectation.

The HTTP echo server and the OpenAI-compatible mock the cases need come from ``flowloom.testing``, started
once for the module on 127.0.0.1 with ports chosen at run time.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

import flowloom
from _conformance import case_params, substitute, unwrap_case
from flowloom.testing import HttpEchoServer, OpenAIMockServer

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def servers() -> AsyncIterator[dict[str, str]]:
    async with HttpEchoServer() as echo, OpenAIMockServer() as llm:
        yield {"{{HTTP_ECHO}}": echo.base_url, "{{LLM_MOCK}}": llm.base_url}


@pytest.fixture(scope="module")
async def engine() -> AsyncIterator[flowloom.Engine]:
    """One engine for every case, as a server would have: runs must not leak into each other."""
    async with flowloom.Engine() as shared:
        yield shared


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
async def test_case(case: Any, servers: dict[str, str], engine: flowloom.Engine) -> None:
    case = unwrap_case(case)
    schema = substitute(case["schema"], servers)
    inputs = substitute(case["inputs"], servers)
    expect = case["expect"]

    validation = engine.validate(json.dumps(schema), inputs)
    assert validation.valid == expect["valid"]
    if not expect["valid"]:
        assert validation.errors == expect["validation_errors"]

    run = engine.start(json.dumps(schema), inputs)
    await run.join(timeout=30)
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
