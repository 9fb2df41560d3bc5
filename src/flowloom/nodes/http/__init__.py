"""The ``http`` node: one HTTP request with retries on transport errors; outputs ``{headers, statusCode,
body}``. Any status is a success (SPEC §A9). The engine's shared ``httpx.AsyncClient`` sends it."""

from __future__ import annotations

from typing import Any, ClassVar

import anyio

from flowloom.engine import ConfigKey, NodeContext, NodeError, NodeMetadata, NodeResult
from flowloom.ir import FlowgramNodeType
from flowloom.nodes._ports import DefaultOutputPort

from ._spec import DEFAULT_CONTENT_TYPE, BodyType, HttpRequest, HttpSpec, resolve_request

# Upstream's text for a request that never got a response (JavaScript's fetch), kept for clients.
FETCH_FAILED = "fetch failed"
_NO_BODY_METHODS = frozenset({"GET", "HEAD"})


class HttpExecutor(DefaultOutputPort):
    """Sends an HTTP request (retries, timeout, size limit); outputs body, headers, status."""

    type: ClassVar[str] = FlowgramNodeType.HTTP
    metadata: ClassVar[NodeMetadata] = NodeMetadata(
        category="flowgram",
        description=(
            "Sends one HTTP request (GET, POST, PUT, DELETE, PATCH, HEAD; six body types) with "
            "retries on transport errors; outputs headers, statusCode and body."
        ),
        config=(
            ConfigKey(
                name="api", type="object", description="method, url (templates allowed)", required=True
            ),
            ConfigKey(
                name="headersValues", type="object", description="request headers", required=False, default={}
            ),
            ConfigKey(
                name="paramsValues", type="object", description="query parameters", required=False, default={}
            ),
            ConfigKey(
                name="body",
                type="object",
                description="bodyType and its content",
                required=False,
                default=None,
            ),
            ConfigKey(
                name="timeout",
                type="object",
                description="timeout and retryTimes",
                required=False,
                default=None,
            ),
        ),
        inputs=("defaultInput",),
        outputs=("defaultOutput",),
    )

    async def execute(self, ctx: NodeContext) -> NodeResult:
        request = resolve_request(ctx.prepared(HttpSpec.from_node), ctx.resolve)
        ctx.hide_sensitive(request.headers)  # Authorization, Cookie, X-Api-Key, ...: *** in the records
        ctx.set_snapshot_inputs(request.snapshot())
        if ctx.services.http is None:
            raise NodeError("no HTTP client is configured for this engine")
        client = ctx.services.http.get()
        limit = ctx.services.http_limits.max_response_bytes
        attempt = 0
        while True:
            try:
                return NodeResult(outputs=await _send(client, request, limit))
            except _TransportError as exc:
                if attempt >= request.retry_times:
                    raise NodeError(exc.message) from exc.__cause__
                await anyio.sleep(2**attempt)  # upstream's backoff: 1 s, 2 s, 4 s, ...
                attempt += 1


class _TransportError(Exception):
    """No response: retried, then reported with ``message``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def _send(client: Any, request: HttpRequest, limit: int) -> dict[str, Any]:
    import httpx

    headers = dict(request.headers)
    content: str | None = None
    data: dict[str, str] | None = None
    files: dict[str, tuple[None, str]] | None = None
    has_content_type = any(name.lower() == "content-type" for name in headers)
    default_type = DEFAULT_CONTENT_TYPE.get(request.body_type)  # type: ignore[call-overload]
    if default_type and not has_content_type:
        headers["Content-Type"] = default_type
    if request.method not in _NO_BODY_METHODS and request.body is not None:
        if isinstance(request.body, str):
            content = request.body
        elif request.body_type == BodyType.FORM_DATA:
            files = {name: (None, value) for name, value in request.body.items()}  # multipart fields
        else:
            data = request.body
    timeout = request.timeout_ms / 1000 if request.timeout_ms else None
    try:
        async with client.stream(
            request.method,
            request.url,
            params=request.params or None,
            headers=headers,
            content=content,
            data=data,
            files=files,
            timeout=timeout,
        ) as response:
            body = await _read_limited(response, limit)
            return {
                "headers": {name.lower(): value for name, value in response.headers.items()},
                "statusCode": response.status_code,
                "body": body.decode(response.encoding or "utf-8", errors="replace"),
            }
    except httpx.TimeoutException as exc:
        raise _TransportError(f"HTTP request timed out after {request.timeout_ms:g} ms") from exc
    except httpx.InvalidURL as exc:
        raise NodeError(f"Invalid URL: {request.url}") from exc
    except httpx.UnsupportedProtocol as exc:
        raise NodeError(f"Invalid URL: {request.url}") from exc
    except httpx.TransportError as exc:
        raise _TransportError(FETCH_FAILED) from exc


async def _read_limited(response: Any, limit: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise NodeError(f"HTTP response body of {int(declared)} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise NodeError(f"HTTP response body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
