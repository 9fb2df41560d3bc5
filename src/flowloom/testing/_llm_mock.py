"""The ``llm-mock`` server: an OpenAI-compatible chat-completions endpoint with a deterministic reply."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncGenerator
from typing import Any

from flowloom.ir import js_number, to_double

from ._server import LocalServer, Request, Response

_ERROR_KINDS = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "permission_denied"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    409: ("invalid_request_error", "conflict"),
    422: ("invalid_request_error", "unprocessable_entity"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}
_PIECES = re.compile(r"\s+|\S+\s*")  # words with their trailing whitespace (and leading whitespace alone)
_USAGE = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}


def _dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def js_string(value: object) -> str:
    """A JSON value as a JavaScript template literal writes it (``null`` and absent: ``undefined``)."""
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return js_number(to_double(value))
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join("" if item is None else js_string(item) for item in value)
    return "[object Object]"


def _content(message: dict[str, Any] | None) -> str:
    if message is None:
        return "undefined"
    content = message.get("content")
    if isinstance(content, list):
        return "".join(str(part.get("text") or "") for part in content if isinstance(part, dict))
    return js_string(content)


def mock_text(body: dict[str, Any]) -> str:
    """The reply of upstream's ``MockLLMExecutor`` for a chat-completions request body."""
    raw_messages = body.get("messages")
    messages = [m for m in raw_messages if isinstance(m, dict)] if isinstance(raw_messages, list) else []
    system = next((m for m in messages if m.get("role") == "system"), None)
    user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    return (
        f"Hi, I am an AI model, my name is {js_string(body.get('model'))}, "
        f"temperature is {js_string(body.get('temperature'))}, "
        f'system prompt is "{_content(system)}", prompt is "{_content(user)}"'
    )


def error_response(status: int, message: str) -> Response:
    """An OpenAI-style error: ``{"error": {"message", "type", "code"}}``."""
    kind, code = _ERROR_KINDS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    headers = [("Content-Type", "application/json")]
    if status == 405:
        headers.append(("Allow", "POST"))
    return Response(status, headers, _dumps({"error": {"message": message, "type": kind, "code": code}}))


class OpenAIMockServer(LocalServer):
    """The ``llm-mock`` server of the flowgram conformance corpus: OpenAI chat completions, deterministic.

    ``POST`` to any path ending in ``/chat/completions`` (clients use ``f"{base_url}/v1"``) answers with
    ``Hi, I am an AI model, my name is {model}, temperature is {temperature}, system prompt is "{system}",
    prompt is "{user}"``, as a ``chat.completion`` object, or, for ``"stream": true``, as server-sent
    ``chat.completion.chunk`` events (one per word) ending with ``data: [DONE]``. Other paths get 404.

    Every JSON body received is recorded in :attr:`requests`, and its ``Authorization`` header (``None``
    when absent) in :attr:`authorizations`, so a test can check the API key a client sent. Knobs,
    settable at any time:
    :attr:`chunk_delay_s` pauses between streamed events; :attr:`fail_with` answers every request with that
    HTTP status and an OpenAI-style error body.
    """

    def __init__(self, *, chunk_delay_s: float = 0.0, fail_with: int | None = None) -> None:
        super().__init__()
        self.chunk_delay_s = chunk_delay_s
        self.fail_with = fail_with
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str | None] = []

    async def handle(self, request: Request) -> Response:
        body: object = None
        if request.body:
            try:
                body = json.loads(request.body)
            except ValueError:
                body = None
        if isinstance(body, dict):
            self.requests.append(body)
            self.authorizations.append(request.header("authorization"))
        if self.fail_with is not None:
            return error_response(self.fail_with, f"mock failure: HTTP {self.fail_with} (fail_with is set)")
        if not request.path.endswith("/chat/completions"):
            return error_response(404, f"no route for {request.method} {request.path}")
        if request.method != "POST":
            return error_response(405, f"{request.method} is not allowed on {request.path}; use POST")
        if not isinstance(body, dict):
            return error_response(400, "the request body must be a JSON object")
        text = mock_text(body)
        if body.get("stream") is True:
            options = body.get("stream_options")
            usage = isinstance(options, dict) and options.get("include_usage") is True
            headers = [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")]
            return Response(200, headers, stream=self._events(body.get("model"), text, usage))
        completion = {
            "id": "chatcmpl-mock",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": _USAGE,
        }
        return Response(200, [("Content-Type", "application/json")], _dumps(completion))

    async def _events(self, model: object, text: str, include_usage: bool) -> AsyncGenerator[bytes, None]:
        created = int(time.time())

        def event(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> bytes:
            chunk: dict[str, Any] = {
                "id": "chatcmpl-mock",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
            }
            if include_usage:
                chunk["usage"] = usage
            return b"data: " + _dumps(chunk) + b"\n\n"

        def delta(content: dict[str, str], finish_reason: str | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": content, "finish_reason": finish_reason}]

        events = [event(delta({"role": "assistant", "content": ""}))]
        events.extend(event(delta({"content": piece})) for piece in _PIECES.findall(text))
        events.append(event(delta({}, "stop")))
        if include_usage:
            events.append(event([], _USAGE))
        events.append(b"data: [DONE]\n\n")
        for index, data in enumerate(events):
            if index and self.chunk_delay_s > 0:
                await asyncio.sleep(self.chunk_delay_s)
            yield data
