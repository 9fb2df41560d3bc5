"""``http.request``: one request to the ``url`` input with the engine's HTTP client. Any status is a
result, not an error; POST and PUT send ``body`` (a string as it is, anything else as JSON, F19)."""

from __future__ import annotations

from typing import Any, ClassVar

from flowloom.engine import NodeContext, NodeError, NodeMetadata, NodeResult

from .._kit import (
    Key,
    KitNode,
    compact,
    failed,
    inputs_of,
    metadata,
    missing_input,
    timed_out,
    wrong_input,
)

_METHODS = ("GET", "POST", "PUT", "DELETE")
_KEYS = (
    Key(
        name="method",
        types=("string",),
        default="GET",
        choices=_METHODS,
        fold=str.upper,
        description="GET, POST, PUT or DELETE",
    ),
    Key(name="headers", types=("object",), default={}, description="request headers"),
    Key(name="timeout", types=("number",), default=30, description="seconds"),
)


class HttpRequestExecutor(KitNode):
    type: ClassVar[str] = "http.request"
    keys: ClassVar[tuple[Key, ...]] = _KEYS
    metadata: ClassVar[NodeMetadata] = metadata(
        category="http",
        description="Send an HTTP request to the url input; outputs status, body text and headers.",
        keys=_KEYS,
        inputs=("url", "body"),
        outputs=("status", "body", "headers"),
    )

    async def execute(self, ctx: NodeContext) -> NodeResult:
        import httpx  # imported when an HTTP node runs

        config = self.config(ctx)
        inputs = inputs_of(ctx)
        url = inputs.get("url")
        if url is None:
            raise missing_input("url")
        if not isinstance(url, str):
            raise wrong_input("url", "string", url)
        method = str(config["method"]).upper()
        headers = {str(k): str(v) for k, v in config["headers"].items()}
        ctx.hide_sensitive(headers)  # Authorization, Cookie, X-Api-Key, ...: *** in the records
        content: bytes | None = None
        body = inputs.get("body")
        if method in ("POST", "PUT") and body is not None:
            if isinstance(body, str):
                content = body.encode("utf-8")
            else:
                content = compact(body).encode("utf-8")
                if not any(name.lower() == "content-type" for name in headers):
                    headers["Content-Type"] = "application/json"
        if ctx.services.http is None:
            raise NodeError("Configuration error: no HTTP client configured")
        client: httpx.AsyncClient = ctx.services.http.get()
        timeout = config["timeout"]
        try:
            response = await client.request(method, url, content=content, headers=headers, timeout=timeout)
        except httpx.TimeoutException as exc:
            raise timed_out(timeout) from exc
        except httpx.HTTPError as exc:
            raise failed(f"HTTP request failed: {exc or type(exc).__name__}") from exc
        received: dict[str, Any] = {name.lower(): value for name, value in response.headers.items()}
        return NodeResult({"status": response.status_code, "body": response.text, "headers": received})
