"""The ``http-echo`` server: answers every request with a JSON description of it."""

from __future__ import annotations

import asyncio
import email.message
import email.utils
import json
import re
import urllib.parse
from dataclasses import dataclass

from ._server import LocalServer, Request, Response

_STATUS_PATH = re.compile(r"/status/([0-9]{3})")


@dataclass(frozen=True, slots=True)
class EchoedRequest:
    """One request the echo server received.

    ``query`` is decoded (last value of a repeated name), ``headers`` holds every field with its name
    lower-cased (repeated fields joined with ``", "``) and ``body`` is the body as received, de-chunked.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", "replace")


def _param(header: str, value: str, name: str) -> str | None:
    """A parameter of a ``Content-Type``-like field value (quoted strings and RFC 2231 handled)."""
    message = email.message.Message()
    message[header] = value
    found = message.get_param(name, header=header)
    return None if found is None else email.utils.collapse_rfc2231_value(found)


def _decode_pairs(text: str) -> dict[str, str]:
    """``a=1&b=x+y``: ``+`` and ``%XX`` decoded, order of first appearance, last value wins."""
    return dict(urllib.parse.parse_qsl(text, keep_blank_values=True, errors="replace"))


def _field_name(head: bytes) -> str | None:
    """The ``name`` parameter of a part's ``Content-Disposition`` field (raw UTF-8 allowed, RFC 7578)."""
    for line in head.decode("utf-8", "replace").split("\r\n"):
        name, colon, value = line.partition(":")
        if colon and name.strip().lower() == "content-disposition":
            return _param("content-disposition", value.strip(), "name")
    return None


def _multipart_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The named parts of a ``multipart/form-data`` body, in order (RFC 7578); values decoded as UTF-8."""
    boundary = _param("content-type", content_type, "boundary")
    if not boundary or not boundary.isascii():
        return {}
    delimiter = b"\r\n--" + boundary.encode("ascii")
    data = b"\r\n" + body  # so that the first delimiter is preceded by a CRLF like the others
    position = data.find(delimiter)
    fields: dict[str, str] = {}
    while position >= 0:
        position += len(delimiter)
        if data.startswith(b"--", position):  # the close delimiter
            break
        line_end = data.find(b"\r\n", position)  # after optional transport padding
        end = data.find(delimiter, line_end) if line_end >= 0 else -1
        if end < 0:  # a truncated part is dropped
            break
        head, blank, content = data[line_end:end].partition(b"\r\n\r\n")
        field_name = _field_name(head) if blank else None
        if field_name is not None:
            fields[field_name] = content.decode("utf-8", "replace")
        position = end
    return fields


def _media_type(content_type: str | None) -> str | None:
    return None if content_type is None else content_type.split(";", 1)[0].strip().lower()


def echo_payload(request: Request) -> dict[str, object]:
    """The echo object of the contract: method, path, query, contentType, headers, body (in this order)."""
    content_type = request.header("content-type")
    media = _media_type(content_type)
    body: object
    if media == "multipart/form-data":
        body = _multipart_fields(content_type or "", request.body)
    elif media == "application/x-www-form-urlencoded":
        body = _decode_pairs(request.body.decode("utf-8", "replace"))
    else:
        body = request.body.decode("utf-8", "replace")
    headers = {name: value for name, value in request.header_dict().items() if name.startswith("x-")}
    return {
        "method": request.method,
        "path": request.path,
        "query": _decode_pairs(request.query),
        "contentType": media,
        "headers": dict(sorted(headers.items())),
        "body": body,
    }


def echo_status(path: str) -> int:
    """The answer's status: ``<code>`` for ``/status/<code>`` (200 to 999), else 200.

    A code below 200 cannot be a final answer, so it gets 400.
    """
    match = _STATUS_PATH.fullmatch(path)
    if match is None:
        return 200
    code = int(match.group(1))
    return code if code >= 200 else 400


class HttpEchoServer(LocalServer):
    """The ``http-echo`` server of the flowgram conformance corpus, for tests of HTTP clients.

    Every method on every path gets ``Content-Type: application/json``, ``X-Echo: yes`` and a compact JSON
    body describing the request (``{"method","path","query","contentType","headers","body"}``; no body for
    ``HEAD``). The path ``/status/<code>`` answers with that status. Every request is recorded in
    :attr:`requests`; :attr:`delay_s` (settable at any time) delays each answer, to test timeouts and
    cancellation.

        async with HttpEchoServer() as echo:
            response = await client.post(f"{echo.base_url}/json?a=1", json={"n": 3})
    """

    def __init__(self, *, delay_s: float = 0.0) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.requests: list[EchoedRequest] = []

    async def handle(self, request: Request) -> Response:
        self.requests.append(
            EchoedRequest(
                request.method,
                request.path,
                _decode_pairs(request.query),
                request.header_dict(),
                request.body,
            )
        )
        if self.delay_s > 0:
            await asyncio.sleep(self.delay_s)
        body = json.dumps(echo_payload(request), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        headers = [("Content-Type", "application/json"), ("X-Echo", "yes")]
        return Response(echo_status(request.path), headers, body)
