"""What an ``http`` node's data asks for, compiled once per plan and resolved per execution."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from flowloom.engine import NodeError, Resolver, TypedValue, compile_flow_value
from flowloom.ir import UNDEFINED, JsonSchema, Node, template_text


class BodyType(StrEnum):
    NONE = "none"
    JSON = "JSON"
    FORM_DATA = "form-data"
    URLENCODED = "x-www-form-urlencoded"
    RAW_TEXT = "raw-text"
    BINARY = "binary"


# Content-Type set when the node gives none (form-data: httpx sets it, with the boundary).
DEFAULT_CONTENT_TYPE = {
    BodyType.JSON: "application/json",
    BodyType.URLENCODED: "application/x-www-form-urlencoded",
    BodyType.RAW_TEXT: "text/plain",
    BodyType.BINARY: "application/octet-stream",
}
_BODY_TYPES = frozenset(BodyType)
# Where each text body is read from; raw-text reads `body.json`, as upstream does.
_TEXT_BODY_KEY = {BodyType.JSON: "json", BodyType.RAW_TEXT: "json", BodyType.BINARY: "binary"}
_FIELDS_KEY = {BodyType.FORM_DATA: "formData", BodyType.URLENCODED: "xWwwFormUrlencoded"}

Resolve = Callable[[Resolver], TypedValue]
"""Resolves a compiled value in the executing node's scope (``NodeContext.resolve``)."""


def _fields(schema: Any, values: Any) -> tuple[tuple[str, Resolver], ...]:
    """Named values declared by a schema (headers, params, form fields), as resolvers."""
    props = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(props, dict) or not isinstance(values, dict):
        return ()
    return tuple(
        (
            name,
            compile_flow_value(
                values[name], JsonSchema.model_validate(prop) if isinstance(prop, dict) else None
            ),
        )
        for name, prop in props.items()
        if values.get(name) is not None
    )


def _section(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class HttpSpec:
    """An ``http`` node's request as its data declares it, with resolvers for the parts that may use
    variables."""

    method: str
    url: Resolver | None
    headers: tuple[tuple[str, Resolver], ...]
    params: tuple[tuple[str, Resolver], ...]
    body_type: str
    text_body: Resolver | None
    form: tuple[tuple[str, Resolver], ...]
    timeout_ms: float | None
    retry_times: int

    @classmethod
    def from_node(cls, node: Node) -> HttpSpec:
        data = node.data
        api, body, timeout = _section(data, "api"), _section(data, "body"), _section(data, "timeout")
        body_type = str(body.get("bodyType") or BodyType.NONE)
        text_key = _TEXT_BODY_KEY.get(body_type)  # type: ignore[call-overload]
        fields_key = _FIELDS_KEY.get(body_type)  # type: ignore[call-overload]
        raw_timeout, raw_retries = timeout.get("timeout"), timeout.get("retryTimes")
        return cls(
            method=str(api.get("method") or "GET").upper(),
            url=compile_flow_value(api["url"]) if api.get("url") is not None else None,
            headers=_fields(data.get("headers"), data.get("headersValues")),
            params=_fields(data.get("params"), data.get("paramsValues")),
            body_type=body_type,
            text_body=compile_flow_value(body[text_key]) if text_key and body.get(text_key) else None,
            form=_fields(body.get(fields_key), body.get(f"{fields_key}Values")) if fields_key else (),
            timeout_ms=float(raw_timeout)
            if isinstance(raw_timeout, int | float) and raw_timeout > 0
            else None,
            retry_times=int(raw_retries) if isinstance(raw_retries, int) and raw_retries > 0 else 0,
        )


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A request resolved for one execution; ``snapshot()`` is what the report shows as its inputs."""

    method: str
    url: str
    headers: dict[str, str]
    params: dict[str, str]
    body_type: str
    body: str | dict[str, str] | None
    retry_times: int
    timeout_ms: float | None

    def snapshot(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.url,
            "headers": self.headers,
            "params": self.params,
            "bodyType": self.body_type,
            "body": self.body,
            "retryTimes": self.retry_times,
            "timeout": self.timeout_ms,
        }


def _text(resolver: Resolver, resolve: Resolve) -> str | None:
    """A resolved value as text (JavaScript's ``String()``); None for a missing or empty one."""
    value = resolve(resolver).value
    if value is None or value is UNDEFINED or value == "":
        return None
    return value if isinstance(value, str) else template_text(value)


def _named(fields: tuple[tuple[str, Resolver], ...], resolve: Resolve) -> dict[str, str]:
    """Resolved named values; empty ones are left out (upstream omits empty query params)."""
    resolved = {}
    for name, resolver in fields:
        text = _text(resolver, resolve)
        if text is not None:
            resolved[name] = text
    return resolved


def resolve_request(spec: HttpSpec, resolve: Resolve) -> HttpRequest:
    """The request of one execution, its values resolved with ``resolve``."""
    url = _text(spec.url, resolve) if spec.url is not None else None
    if not url:
        raise NodeError("HTTP url is required")
    if spec.body_type not in _BODY_TYPES:
        raise NodeError(f'HTTP invalid body type "{spec.body_type}"')
    body: str | dict[str, str] | None = None
    if spec.body_type in _TEXT_BODY_KEY:
        body = _text(spec.text_body, resolve) if spec.text_body is not None else None
        if body is None and spec.body_type == BodyType.JSON:
            raise NodeError("HTTP json body is required")
    elif spec.body_type in _FIELDS_KEY:
        body = _named(spec.form, resolve)
    return HttpRequest(
        method=spec.method,
        url=url,
        headers=_named(spec.headers, resolve),
        params=_named(spec.params, resolve),
        body_type=spec.body_type,
        body=body,
        retry_times=spec.retry_times,
        timeout_ms=spec.timeout_ms,
    )
