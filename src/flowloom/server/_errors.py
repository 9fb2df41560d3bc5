"""Error answers: upstream's JSON shapes, zod-like input issues, and the net that turns every failure into
a JSON answer without a stack trace."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("flowloom.server")

JSON_UTF8 = "application/json; charset=utf-8"
Issue = dict[str, Any]

# tRPC v10's JSON-RPC numbers for its error codes.
RPC_CODES = {
    "PARSE_ERROR": -32700,
    "BAD_REQUEST": -32600,
    "INTERNAL_SERVER_ERROR": -32603,
    "UNAUTHORIZED": -32001,
    "NOT_FOUND": -32004,
    "METHOD_NOT_SUPPORTED": -32005,
    "CONFLICT": -32009,
    "PAYLOAD_TOO_LARGE": -32013,
}


class _Undefined:
    """JavaScript's ``undefined``: a missing input, as zod sees it."""

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Any = _Undefined()


class ApiError(Exception):
    """A refused request: its HTTP ``status``, a machine ``code`` and a message naming the problem."""

    def __init__(self, status: int, code: str, message: str, *, issues: list[Issue] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.issues = issues

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.issues is not None:
            body["issues"] = self.issues
        return body


class InputInvalid(ApiError):
    """Input that fails the procedure's (zod) schema: upstream's 400 ``Input validation failed``."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__(400, "BAD_REQUEST", "Input validation failed", issues=issues)


def not_found(message: str = "Not found") -> ApiError:
    return ApiError(404, "NOT_FOUND", message)


def json_response(content: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """Compact UTF-8 JSON, as ``JSON.stringify`` writes it."""
    text = json.dumps(content, ensure_ascii=False, separators=(",", ":"), default=str)
    return Response(text.encode("utf-8"), status, headers=headers, media_type=JSON_UTF8)


def empty_response() -> Response:
    """Upstream's answer when a handler returns nothing: 200, ``application/json``, no body."""
    return Response(b"", 200, media_type="application/json")


def error_body(path: str, status: int, code: str, message: str) -> dict[str, Any]:
    """An error in the shape the caller expects: tRPC's envelope under ``/trpc``, else REST's."""
    if path.startswith("/trpc"):
        data = {"code": code, "httpStatus": status}
        return {"error": {"message": message, "code": RPC_CODES.get(code, -32603), "data": data}}
    return {"message": message, "code": code}


def js_type(value: Any) -> str:
    """zod's name for the type of a JSON value."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def type_issue(expected: str, value: Any, path: list[str | int]) -> Issue:
    received = js_type(value)
    message = "Required" if value is UNDEFINED else f"Expected {expected}, received {received}"
    return {
        "code": "invalid_type",
        "expected": expected,
        "received": received,
        "path": path,
        "message": message,
    }


def zod_issues(
    shape: Mapping[str, str], value: Any, *, optional: frozenset[str] = frozenset()
) -> list[Issue]:
    """The issues zod reports for ``value`` against ``z.object(shape)``; each field's type is ``"string"``,
    ``"object"`` (a record) or ``"object | string"``. An empty list: the value fits."""
    if not isinstance(value, dict):
        return [type_issue("object", value, [])]
    issues = []
    for key, expected in shape.items():
        got = value.get(key, UNDEFINED)
        if got is UNDEFINED and key in optional:
            continue
        if js_type(got) not in expected.split(" | "):
            issues.append(type_issue(expected, got, [key]))
    return issues


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e999: valid JSON text, but no double holds it (it would become null)
        raise ValueError(f"the number {text} is too large (beyond a double's range)")
    return value


def parse_json(raw: bytes | str, what: str) -> Any:
    """Strict JSON (no NaN or Infinity); ``UNDEFINED`` for empty text. Raises a 400 ``PARSE_ERROR``
    naming ``what`` and the problem."""
    if not raw.strip():
        return UNDEFINED
    try:
        return json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise ApiError(400, "PARSE_ERROR", f"{what} is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ApiError(400, "PARSE_ERROR", f"{what} is not valid JSON: {exc}") from exc


async def read_json(request: Request) -> Any:
    """The request body as JSON (``UNDEFINED`` when empty)."""
    return parse_json(await request.body(), "Request body")


def install_handlers(app: FastAPI) -> None:
    """JSON answers for refused requests, unknown routes and FastAPI's own parameter checks."""

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return json_response(exc.body(), exc.status)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        path = request.url.path
        if exc.status_code == 405:  # upstream answers 404 here, which hides that the path exists
            message = f"Method {request.method} is not allowed on {path}"
            return json_response({"message": message, "code": "METHOD_NOT_ALLOWED"}, 405, exc.headers)
        if exc.status_code == 404:
            return json_response({"message": "Not found", "code": "NOT_FOUND"}, 404)
        return json_response({"message": str(exc.detail), "code": "HTTP_ERROR"}, exc.status_code, exc.headers)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        issues = [
            {"path": [str(p) for p in error.get("loc", ())], "message": str(error.get("msg", ""))}
            for error in exc.errors()
        ]
        named = "; ".join(f"{'.'.join(i['path'])}: {i['message']}" for i in issues)
        body = {"message": f"Invalid request: {named}", "code": "BAD_REQUEST", "issues": issues}
        return json_response(body, 400)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)


class CatchAllMiddleware:
    """Any unexpected exception: logged with its traceback, answered with a bare 500 JSON body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            logger.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if started:  # too late for an answer: let the server drop the connection
                raise
            body = error_body(scope.get("path", ""), 500, "INTERNAL_SERVER_ERROR", "Internal server error")
            await json_response(body, 500)(scope, receive, send)
