"""The ``llm`` node: an OpenAI-compatible chat completion through the official ``openai`` SDK
(SPEC §A9). Inputs ``modelName, apiKey, apiHost, temperature, systemPrompt?, prompt``; output
``{result}``. While someone listens to the engine's events the answer is streamed and every token
published as an ``LLMDelta``. The API key never reaches reports, events or logs."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

from flowloom.engine import NodeContext, NodeError, NodeMetadata, NodeResult
from flowloom.ir import FlowgramNodeType, LLMDelta
from flowloom.nodes._ports import DefaultOutputPort

# In upstream's order of checking; temperature may be 0, the others must be non-empty.
_REQUIRED = ("modelName", "temperature", "apiKey", "apiHost", "prompt")
_MAX_RETRIES = 3  # as upstream's ChatOpenAI
REDACTED = "***"


class LLMExecutor(DefaultOutputPort):
    """Asks an OpenAI-compatible chat model; streams its answer as LLMDelta events."""

    type: ClassVar[str] = FlowgramNodeType.LLM
    metadata: ClassVar[NodeMetadata] = NodeMetadata(
        category="flowgram",
        description=(
            "Asks an OpenAI-compatible chat model (modelName, apiKey, apiHost, temperature, "
            "systemPrompt, prompt); tokens stream as LLMDelta events; the API key is never "
            "recorded."
        ),
        inputs=("defaultInput",),
        outputs=("defaultOutput",),
    )

    async def execute(self, ctx: NodeContext) -> NodeResult:
        inputs = ctx.inputs
        if "apiKey" in inputs:
            ctx.hide(inputs["apiKey"])  # *** wherever the run shows or records it
            ctx.set_snapshot_inputs({**inputs, "apiKey": REDACTED})
        missing = [name for name in _REQUIRED if _missing(name, inputs.get(name))]
        if missing:
            raise NodeError("LLM node missing required inputs: " + ", ".join(f'"{name}"' for name in missing))
        api_host = str(inputs["apiHost"])
        _check_api_host(api_host)
        messages = [{"role": "user", "content": str(inputs["prompt"])}]
        if inputs.get("systemPrompt"):
            messages.insert(0, {"role": "system", "content": str(inputs["systemPrompt"])})
        client = _client(ctx, api_key=str(inputs["apiKey"]), base_url=api_host)
        request = {
            "model": str(inputs["modelName"]),
            "temperature": inputs["temperature"],
            "messages": messages,
        }
        result: str | None
        try:
            if ctx.observed:
                result = await _streamed(ctx, client, request)
            else:
                completion = await client.chat.completions.create(**request)
                result = completion.choices[0].message.content if completion.choices else None
        except Exception as exc:
            raise NodeError(_error_message(exc, api_host)) from exc
        return NodeResult(outputs={"result": result})


def _missing(name: str, value: Any) -> bool:
    return value is None if name == "temperature" else value is None or value == ""


def _check_api_host(api_host: str) -> None:
    try:
        parts = urlsplit(api_host)
    except ValueError:
        raise NodeError("Invalid URL") from None
    if not parts.scheme or (parts.scheme in ("http", "https") and not parts.netloc) or " " in api_host:
        raise NodeError("Invalid URL")
    if parts.scheme not in ("http", "https"):
        raise NodeError(f"Invalid API host protocol - {parts.scheme}:")


def _client(ctx: NodeContext, *, api_key: str, base_url: str) -> Any:
    from openai import AsyncOpenAI  # imported on first use: it is heavy

    http = ctx.services.http.get() if ctx.services.http is not None else None
    return AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=_MAX_RETRIES, http_client=http)


async def _streamed(ctx: NodeContext, client: Any, request: dict[str, Any]) -> str:
    parts: list[str] = []
    stream = await client.chat.completions.create(**request, stream=True)
    async with stream:
        async for chunk in stream:
            text = chunk.choices[0].delta.content if chunk.choices else None
            if text:
                parts.append(text)
                ctx.emit_node_event(LLMDelta, text=text)
    return "".join(parts)


def _error_message(exc: Exception, api_host: str) -> str:
    from openai import APIConnectionError, APITimeoutError

    if isinstance(exc, APIConnectionError) and not isinstance(exc, APITimeoutError):
        return f'Network error: unreachable api "{api_host}"'
    return str(exc) or type(exc).__name__
