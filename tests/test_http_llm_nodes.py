"""HTTP and LLM node behaviour beyond the recorded cases, with an ``httpx.MockTransport`` injected through
the engine's services (the seam users have too)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

import flowloom
from _workflows import chain, end, node, ref, start
from flowloom import ir

pytestmark = pytest.mark.anyio

Handler = Callable[[httpx.Request], httpx.Response]


def engine_with(handler: Handler, **limits: Any) -> flowloom.Engine:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    services = flowloom.Services(http=flowloom.Lazy.of(client), http_limits=flowloom.HttpLimits(**limits))
    return flowloom.Engine(services=services)


def http_node(url: str, **data: Any) -> dict[str, Any]:
    data.setdefault("timeout", {"timeout": 5000, "retryTimes": 0})
    return node(
        "http_0",
        "http",
        api={"method": data.pop("method", "GET"), "url": {"type": "template", "content": url}},
        body=data.pop("body", {"bodyType": "none"}),
        outputs={
            "type": "object",
            "properties": {"statusCode": {"type": "integer"}, "body": {"type": "string"}},
        },
        **data,
    )


def http_workflow(url: str = "http://api.test/items", **data: Any) -> dict[str, Any]:
    return chain(start(), http_node(url, **data), end(code=ref("http_0", "statusCode")))


async def test_requests_go_through_the_injected_client() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"ok": True}, headers={"X-Id": "7"})

    run = await engine_with(handler).run(
        http_workflow(
            method="POST", body={"bodyType": "JSON", "json": {"type": "template", "content": '{"a":1}'}}
        ),
        {},
    )
    assert run.status is flowloom.Status.SUCCEEDED, run.error
    assert run.outputs == {"code": 201}
    assert seen[0].method == "POST" and seen[0].content == b'{"a":1}'
    assert seen[0].headers["content-type"] == "application/json"
    outputs = run.report().reports["http_0"].snapshots[0].outputs
    assert outputs is not None and outputs["headers"]["x-id"] == "7" and outputs["body"] == '{"ok":true}'


async def test_oversized_response_fails_with_a_clear_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 5000)

    run = await engine_with(handler, max_response_bytes=1000).run(http_workflow(), {})
    assert run.status is flowloom.Status.FAILED
    assert run.error == "HTTP response body of 5000 bytes exceeds the limit of 1000 bytes"


async def test_oversized_streamed_response_without_length_is_cut_off() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(50):
            yield b"y" * 100

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=chunks())  # no Content-Length

    run = await engine_with(handler, max_response_bytes=1000).run(http_workflow(), {})
    assert run.error == "HTTP response body exceeds the limit of 1000 bytes"


async def test_transport_errors_are_retried_then_reported() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("refused")
        return httpx.Response(200, text="second time")

    run = await engine_with(handler).run(http_workflow(timeout={"timeout": 5000, "retryTimes": 1}), {})
    assert run.status is flowloom.Status.SUCCEEDED and calls == 2

    def always_down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    run = await engine_with(always_down).run(http_workflow(), {})
    assert run.error == "fetch failed"


async def test_http_status_errors_are_not_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503, text="busy")

    run = await engine_with(handler).run(http_workflow(timeout={"timeout": 5000, "retryTimes": 3}), {})
    assert run.outputs == {"code": 503} and calls == 1


def llm_workflow(**extra: Any) -> dict[str, Any]:
    values = {
        "modelName": {"type": "constant", "content": "gpt-test"},
        "apiKey": {"type": "constant", "content": "sk-secret-123"},
        "apiHost": {"type": "constant", "content": "http://llm.test/v1"},
        "temperature": {"type": "constant", "content": 0.5},
        "prompt": {"type": "ref", "content": ["start_0", "q"]},
        **extra,
    }
    llm = node(
        "llm_0",
        "llm",
        inputs={
            "type": "object",
            "properties": {k: {"type": "number" if k == "temperature" else "string"} for k in values},
        },
        inputsValues=values,
        outputs={"type": "object", "properties": {"result": {"type": "string"}}},
    )
    schema = chain(start(q="string"), llm, end(answer=ref("llm_0", "result")))
    schema["nodes"][-1]["data"]["inputs"]["properties"]["answer"]["type"] = "string"
    return schema


def openai_handler(words: list[str], seen: list[dict[str, Any]]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append({"body": body, "auth": request.headers.get("authorization")})
        if not body.get("stream"):
            return httpx.Response(
                200,
                json={
                    "id": "c1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": "".join(words)},
                        }
                    ],
                },
            )
        events = [
            {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}],
            }
            for w in words
        ]
        text = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})

    return handler


async def test_llm_answer_and_api_key_never_recorded() -> None:
    seen: list[dict[str, Any]] = []
    engine = engine_with(openai_handler(["Hello", ", ", "world"], seen))
    events: list[ir.Event] = []
    engine.bus.add_listener(events.append)
    run = await engine.run(
        llm_workflow(systemPrompt={"type": "constant", "content": "Be brief."}), {"q": "hi"}
    )
    assert run.status is flowloom.Status.SUCCEEDED, run.error
    assert run.outputs == {"answer": "Hello, world"}
    assert seen[0]["auth"] == "Bearer sk-secret-123"
    assert seen[0]["body"]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    # Someone listened, so the answer was streamed, one event per token.
    assert [e.text for e in events if isinstance(e, ir.LLMDelta)] == ["Hello", ", ", "world"]
    recorded = json.dumps(run.report().to_json()) + repr(events)
    assert "sk-secret-123" not in recorded
    assert run.report().reports["llm_0"].snapshots[0].inputs["apiKey"] == "***"


async def test_llm_without_listeners_is_not_streamed() -> None:
    seen: list[dict[str, Any]] = []
    run = await engine_with(openai_handler(["plain"], seen)).run(llm_workflow(), {"q": "hi"})
    assert run.outputs == {"answer": "plain"}
    assert "stream" not in seen[0]["body"]
