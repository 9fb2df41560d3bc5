"""A workflow with secrets of every kind, for the secrets tests (and the processes they start): an LLM key
given as a constant, one given as a password-format run input, one read by name from the environment; the
run waits between the first LLM call and the others, so a resume in another process needs them all."""

from __future__ import annotations

import itertools
from typing import Any

from _waits import wait_node
from _workflows import edge, node, ref

CONSTANT_KEY = "sk-constant-4f1a9c77"
INPUT_KEY = "sk-input-8b2e7d31"
NAMED_KEY = "sk-named-3c6f0a55"
KEY_VARIABLE = "FLOWLOOM_TEST_LLM_KEY"
SECRETS = (CONSTANT_KEY, INPUT_KEY, NAMED_KEY)


def llm(node_id: str, api_key: dict[str, Any], api_host: str) -> dict[str, Any]:
    values = {
        "modelName": {"type": "constant", "content": "mock-model"},
        "apiKey": api_key,
        "apiHost": {"type": "constant", "content": api_host},
        "temperature": {"type": "constant", "content": 0},
        "prompt": {"type": "template", "content": f"{node_id}: {{{{start_0.question}}}}"},
    }
    return node(
        node_id,
        "llm",
        inputs={
            "type": "object",
            "properties": {k: {"type": "number" if k == "temperature" else "string"} for k in values},
        },
        inputsValues=values,
        outputs={"type": "object", "properties": {"result": {"type": "string"}}},
    )


def secret_workflow(api_host: str, *, wait: bool = True) -> dict[str, Any]:
    """start(question, key: password) -> llm_constant -> wait "approve" -> llm_input -> llm_named ->
    end(constant, input, named): the three LLM answers. ``wait=False``: without the wait."""
    start = node(
        "start_0",
        "start",
        outputs={
            "type": "object",
            "properties": {"question": {"type": "string"}, "key": {"type": "string", "format": "password"}},
        },
    )
    nodes = [
        start,
        llm("llm_constant", {"type": "constant", "content": CONSTANT_KEY}, api_host),
        wait_node("approve", prompt="Go on?"),
        llm("llm_input", ref("start_0", "key"), api_host),
        llm("llm_named", {"type": "secret", "content": KEY_VARIABLE}, api_host),
        node(
            "end_0",
            "end",
            inputs={
                "type": "object",
                "properties": {name: {"type": "string"} for name in ("constant", "input", "named")},
            },
            inputsValues={
                "constant": ref("llm_constant", "result"),
                "input": ref("llm_input", "result"),
                "named": ref("llm_named", "result"),
            },
        ),
    ]
    order = ["start_0", "llm_constant", "approve", "llm_input", "llm_named", "end_0"]
    if not wait:
        nodes = [n for n in nodes if n["id"] != "approve"]
        order.remove("approve")
    return {"nodes": nodes, "edges": [edge(a, b) for a, b in itertools.pairwise(order)]}
