"""Upstream's procedures over tRPC v10's HTTP protocol (no transformer), under ``/trpc``.

Procedures are addressed by upstream's names (``/trpc/%2Ftask%2Frun``, which the server sees as
``/trpc//task/run``) or by their dot names (``task.run``, ``info``). Queries are ``GET ?input=<JSON>``,
mutations ``POST`` with the input as the body; ``?batch=1`` joins names with commas.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from ._errors import RPC_CODES, UNDEFINED, ApiError, InputInvalid, json_response, parse_json
from ._upstream import Kind, Procedures

logger = logging.getLogger("flowloom.server")

MAX_BATCH = 100
_KINDS: dict[str, Kind] = {"GET": "query", "POST": "mutation"}
_SUMMARIES = {
    "GET": "tRPC queries: /trpc/<name>?input=<JSON> (batches: names joined by commas, ?batch=1).",
    "POST": "tRPC mutations: POST /trpc/<name> with the input as the JSON body.",
}


def _error(exc: ApiError, path: str | None = None) -> dict[str, Any]:
    # BAD_REQUEST from the input schema: tRPC's message is the zod issue list as pretty-printed JSON.
    message = (
        json.dumps(exc.issues, indent=2, ensure_ascii=False) if isinstance(exc, InputInvalid) else exc.message
    )
    data: dict[str, Any] = {"code": exc.code, "httpStatus": exc.status}
    if path is not None:
        data["path"] = path
    return {"error": {"message": message, "code": RPC_CODES.get(exc.code, -32603), "data": data}}


def _unwrap(value: Any) -> Any:
    """Clients with a JSON transformer send ``{"json": <input>}`` (superjson adds ``meta``)."""
    if isinstance(value, dict) and "json" in value and set(value) <= {"json", "meta"}:
        return value["json"]
    return value


async def _raw_input(request: Request, kind: Kind) -> Any:
    if kind == "query":
        text = request.query_params.get("input")
        return UNDEFINED if text is None else parse_json(text, '"input"')
    return parse_json(await request.body(), "Request body")


class _Call:
    """One procedure call of a request: its answer and HTTP status."""

    def __init__(self, body: dict[str, Any], status: int) -> None:
        self.body = body
        self.status = status


async def _call(procedures: Procedures, name: str, kind: Kind, value: Any) -> _Call:
    procedure = procedures.lookup(name, kind)
    if procedure is None:
        missing = ApiError(404, "NOT_FOUND", f'No "{kind}"-procedure on path "{name}"')
        return _Call(_error(missing, name), 404)
    try:
        result = await procedure(_unwrap(value))
    except ApiError as exc:
        return _Call(_error(exc, name), exc.status)
    except Exception:
        logger.exception("tRPC procedure %s failed", name)
        failed = ApiError(500, "INTERNAL_SERVER_ERROR", "Internal server error")
        return _Call(_error(failed, name), 500)
    return _Call({"result": {} if result is None else {"data": result}}, 200)


# tRPC answers carry their own envelope ({"result"} or {"error"}, an array for a batch)
_TRPC_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": description}
    for status, description in (
        (207, "A batch whose calls had different outcomes"),
        (400, "Input that fails the procedure's schema"),
        (404, "No such procedure (or a query called as a mutation)"),
        (405, "A method tRPC does not use"),
    )
}


def trpc_router(procedures: Procedures) -> APIRouter:
    router = APIRouter(tags=["flowgram tRPC"])

    async def trpc(request: Request, names: str) -> Response:
        kind = _KINDS.get(request.method)
        if kind is None:
            message = f"Unsupported {request.method}-request: use GET for queries and POST for mutations"
            return json_response(_error(ApiError(405, "METHOD_NOT_SUPPORTED", message)), 405)
        batch = request.query_params.get("batch") in ("1", "true")
        calls = names.split(",") if batch else [names]
        try:
            raw = await _raw_input(request, kind)
            if batch:
                raw = {} if raw is UNDEFINED else raw
                if not isinstance(raw, dict):
                    raise ApiError(
                        400, "BAD_REQUEST", '"input" needs to be an object when doing a batch call'
                    )
                if len(calls) > MAX_BATCH:
                    message = f"A batch may hold at most {MAX_BATCH} calls; this one has {len(calls)}"
                    raise ApiError(400, "BAD_REQUEST", message)
                inputs = [raw.get(str(index), UNDEFINED) for index in range(len(calls))]
            else:
                inputs = [raw]
        except ApiError as exc:
            return json_response(_error(exc), exc.status)
        results = [
            await _call(procedures, name, kind, value) for name, value in zip(calls, inputs, strict=True)
        ]
        if not batch:
            return json_response(results[0].body, results[0].status)
        statuses = {r.status for r in results}
        return json_response([r.body for r in results], statuses.pop() if len(statuses) == 1 else 207)

    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        router.add_api_route(
            "/trpc/{names:path}",
            trpc,
            methods=[method],
            response_model=None,
            operation_id=f"trpc_{method.lower()}",
            include_in_schema=method in _KINDS,
            responses=_TRPC_RESPONSES,
            summary=_SUMMARIES.get(method),
        )
    return router
