"""A client of Zypi's REST API (``POST /exec``, ``POST /sessions``, ``POST /sessions/<id>/exec``) over the
engine's shared ``httpx.AsyncClient``, with flowengine's error texts."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from flowloom.engine import NodeContext, NodeError

from .._kit import failed, timed_out

DEFAULT_URL = "http://localhost:4000"


def _client(ctx: NodeContext) -> Any:
    if ctx.services.http is None:
        raise NodeError("no HTTP client is configured for this engine")
    return ctx.services.http.get()


async def post(
    ctx: NodeContext, url: str, path: str, body: Mapping[str, Any], *, timeout_s: float | None
) -> tuple[int, Any, float]:
    """``POST <url><path>`` with a JSON body: (status, parsed JSON answer, milliseconds taken)."""
    import httpx

    base = url.rstrip("/")
    started = time.monotonic()
    try:
        response = await _client(ctx).post(base + path, json=dict(body), timeout=timeout_s)
    except httpx.TimeoutException as exc:
        if timeout_s is None:
            raise failed(f"Zypi request timed out: {exc}") from exc
        raise timed_out(timeout_s) from exc
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        raise failed(f"Cannot connect to Zypi at {base} — is it running? ({reason})") from exc
    elapsed_ms = (time.monotonic() - started) * 1000
    try:
        answer = response.json()
    except ValueError as exc:
        if response.status_code in (200, 201):
            raise failed(f"Failed to parse Zypi response: {exc}") from exc
        answer = None
    return response.status_code, answer, elapsed_ms


def error_text(answer: Any) -> str:
    if isinstance(answer, Mapping) and isinstance(answer.get("error"), str):
        return str(answer["error"])
    return "Unknown error"


async def execute(
    ctx: NodeContext, url: str, body: Mapping[str, Any], *, session_id: str | None, timeout_s: float | None
) -> dict[str, Any]:
    """Run a command through Zypi: its ``exit_code``, ``stdout``, ``stderr`` and ``duration_ms``."""
    path = f"/sessions/{session_id}/exec" if session_id else "/exec"
    status, answer, elapsed_ms = await post(ctx, url, path, body, timeout_s=timeout_s)
    if status != 200:
        raise failed(f"Zypi error ({status}): {error_text(answer)}")
    if not isinstance(answer, Mapping):
        raise failed("Failed to parse Zypi response: expected a JSON object")
    try:
        return {
            "exit_code": int(answer["exit_code"]),
            "stdout": str(answer.get("stdout") or ""),
            "stderr": str(answer.get("stderr") or ""),
            "duration_ms": answer.get("duration_ms", round(elapsed_ms)),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise failed(f"Failed to parse Zypi response: missing or bad exit_code ({exc})") from exc
