"""Shared HTTP/1.1 plumbing of the local test servers: a small request parser and an asyncio server.

The parser reads a request line, header fields and a body framed by ``Content-Length`` or
``Transfer-Encoding: chunked`` (RFC 9112), answers ``Expect: 100-continue``, and keeps connections alive
until the client asks to close them. Subclasses of :class:`LocalServer` only map a :class:`Request` to a
:class:`Response`.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import re
import urllib.parse
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Self

HOST = "127.0.0.1"
_LINE_LIMIT = 64 * 1024  # the longest request line, header line or chunk-size line
_MAX_FIELDS = 128  # header fields (and trailer fields) per request
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION = re.compile(rb"HTTP/([0-9])\.([0-9])")
_HEX = re.compile(rb"[0-9A-Fa-f]+")


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed request; ``headers`` keeps the fields as received, in order."""

    method: str
    target: str
    path: str
    query: str
    version: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The field's value, repeated fields joined with ``", "``; ``None`` when absent."""
        wanted = name.lower()
        values = [value for key, value in self.headers if key.lower() == wanted]
        return ", ".join(values) if values else None

    def header_dict(self) -> dict[str, str]:
        """Every field by lower-cased name, in order of first appearance; repeats joined with ``", "``."""
        merged: dict[str, str] = {}
        for key, value in self.headers:
            name = key.lower()
            merged[name] = f"{merged[name]}, {value}" if name in merged else value
        return merged


@dataclass(slots=True)
class Response:
    """What a handler answers: a whole ``body``, or a ``stream`` of pieces sent as they come."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: AsyncGenerator[bytes, None] | None = None


class _HTTPError(Exception):
    """A request that cannot be processed: answered with ``status``, then the connection is closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _ClientGone(Exception):
    """The client closed the connection in the middle of a request."""


def _tokens(value: str | None) -> set[str]:
    return {token.strip().lower() for token in (value or "").split(",") if token.strip()}


def _decode(raw: bytes) -> str:
    """Field values are octets: UTF-8 when they are valid UTF-8, else ISO-8859-1 (as HTTP/1.0 had it)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


async def _read_line(reader: asyncio.StreamReader, too_long: int) -> bytes | None:
    """One line without its CRLF (a bare LF is accepted); ``None`` at a clean end of stream."""
    try:
        raw = await reader.readline()
    except ValueError:  # longer than the reader's limit
        raise _HTTPError(too_long, "line too long") from None
    if not raw:
        return None
    if not raw.endswith(b"\n"):
        raise _ClientGone
    return raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]


async def _require_line(reader: asyncio.StreamReader, too_long: int = 400) -> bytes:
    line = await _read_line(reader, too_long)
    if line is None:
        raise _ClientGone
    return line


async def _read_exactly(reader: asyncio.StreamReader, size: int) -> bytes:
    try:
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        raise _ClientGone from None


async def _read_fields(reader: asyncio.StreamReader) -> list[tuple[str, str]]:
    """Header (or trailer) fields up to the empty line."""
    fields: list[tuple[str, str]] = []
    while line := await _require_line(reader, too_long=431):
        if len(fields) >= _MAX_FIELDS:
            raise _HTTPError(431, "too many header fields")
        if line[:1] in (b" ", b"\t"):
            raise _HTTPError(400, "obsolete line folding is not accepted")
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise _HTTPError(400, "malformed header field")
        fields.append((name.decode("ascii"), _decode(value.strip(b" \t"))))
    return fields


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size_text = (await _require_line(reader)).split(b";", 1)[0].strip(b" \t")
        if not _HEX.fullmatch(size_text):
            raise _HTTPError(400, "malformed chunk size")
        size = int(size_text, 16)
        if size == 0:
            break
        chunks.append(await _read_exactly(reader, size))
        if await _require_line(reader) != b"":
            raise _HTTPError(400, "chunk data not followed by CRLF")
    await _read_fields(reader)  # trailer fields are read and dropped
    return b"".join(chunks)


def _split_target(method: str, target: str) -> tuple[str, str]:
    """``(path, query)`` of a request target: origin-form as received, absolute-form's path component."""
    if target == "*" and method == "OPTIONS":
        return "*", ""
    if target.startswith("/"):
        path, _, query = target.partition("?")
        return path, query
    parts = urllib.parse.urlsplit(target)
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return parts.path or "/", parts.query
    raise _HTTPError(400, "malformed request target")


async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Request | None:
    """The next request on the connection, body included; ``None`` when the client closed it in between."""
    line = await _read_line(reader, too_long=414)
    while line == b"":  # empty lines before a request line are ignored (RFC 9112 section 2.2)
        line = await _read_line(reader, too_long=414)
    if line is None:
        return None
    parts = line.split(b" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1]:
        raise _HTTPError(400, "malformed request line")
    version_match = _VERSION.fullmatch(parts[2])
    if version_match is None:
        raise _HTTPError(400, "malformed HTTP version")
    if version_match.group(1) != b"1":
        raise _HTTPError(505, "only HTTP/1.x is supported")
    method = parts[0].decode("ascii")
    version = "HTTP/1.0" if version_match.group(2) == b"0" else "HTTP/1.1"  # 1.x is answered as 1.1
    target = _decode(parts[1])
    path, query = _split_target(method, target)
    fields = tuple(await _read_fields(reader))
    head = Request(method, target, path, query, version, fields, b"")
    if version == "HTTP/1.1" and head.header("host") is None:
        raise _HTTPError(400, "an HTTP/1.1 request needs a Host header field")

    transfer_encoding, content_length = head.header("transfer-encoding"), head.header("content-length")
    length = 0
    if transfer_encoding is None and content_length is not None:
        lengths = {value.strip() for value in content_length.split(",")}
        text = lengths.pop()
        if lengths or not text.isascii() or not text.isdigit():
            raise _HTTPError(400, "invalid Content-Length")
        length = int(text)
    expects_body = transfer_encoding is not None or length > 0
    if expects_body and version == "HTTP/1.1" and (head.header("expect") or "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()

    if transfer_encoding is not None:
        codings = [coding.strip().lower() for coding in transfer_encoding.split(",") if coding.strip()]
        if version == "HTTP/1.0" or not codings or codings[-1] != "chunked":
            raise _HTTPError(400, "a request's Transfer-Encoding must end with chunked")
        if codings != ["chunked"]:
            raise _HTTPError(501, "only the chunked transfer coding is supported")
        body = await _read_chunked(reader)
    else:
        body = await _read_exactly(reader, length)
    return Request(method, target, path, query, version, fields, body)


def _keep_alive(request: Request) -> bool:
    tokens = _tokens(request.header("connection"))
    if request.version == "HTTP/1.1":
        # A request framed by both Transfer-Encoding and Content-Length is suspect (RFC 9112 section 6.1).
        both = (
            request.header("transfer-encoding") is not None and request.header("content-length") is not None
        )
        return "close" not in tokens and not both
    return "keep-alive" in tokens


def _status_line(status: int) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    return f"HTTP/1.1 {status:03d} {reason}\r\n".encode("ascii")


def _head(status: int, headers: list[tuple[str, str]]) -> bytes:
    lines = [_status_line(status)]
    lines.extend(f"{name}: {value}\r\n".encode() for name, value in headers)
    lines.append(b"\r\n")
    return b"".join(lines)


async def write_response(
    writer: asyncio.StreamWriter, request: Request | None, response: Response, keep_alive: bool
) -> bool:
    """Send ``response``; the result says whether the connection may carry another request."""
    status = response.status
    send_body = request is None or request.method != "HEAD"
    headers = [("Date", email.utils.formatdate(usegmt=True)), *response.headers]
    http10 = request is not None and request.version == "HTTP/1.0"
    if response.stream is not None and http10:
        keep_alive = False  # no chunked coding in HTTP/1.0: the end of the body is the end of the connection
    if status in (204, 304):  # these never have content
        send_body = False
    elif response.stream is None:
        headers.append(("Content-Length", "0" if status == 205 else str(len(response.body))))
    elif not http10:
        headers.append(("Transfer-Encoding", "chunked"))
    if not keep_alive:
        headers.append(("Connection", "close"))
    elif http10:
        headers.append(("Connection", "keep-alive"))

    writer.write(_head(status, headers))
    if response.stream is None:
        if send_body and status != 205:
            writer.write(response.body)
        await writer.drain()
        return keep_alive
    async with contextlib.aclosing(response.stream) as stream:
        await writer.drain()
        if send_body:
            async for piece in stream:
                if piece:
                    writer.write(piece if http10 else b"%x\r\n%b\r\n" % (len(piece), piece))
                    await writer.drain()
            if not http10:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
    return keep_alive


def plain_text(status: int, message: str) -> Response:
    return Response(status, [("Content-Type", "text/plain; charset=utf-8")], (message + "\n").encode())


class LocalServer:
    """An HTTP/1.1 server on 127.0.0.1, on a free port, for the lifetime of an ``async with`` block.

    Subclasses implement :meth:`handle`. Leaving the block stops listening and closes every connection,
    requests in flight included.
    """

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def port(self) -> int:
        """The TCP port the server listens on (only while it runs)."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not running: use it in `async with`")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, without a trailing slash."""
        return f"http://{HOST}:{self.port}"

    async def handle(self, request: Request) -> Response:
        """Answer one request."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        self._closing = False
        server = await asyncio.start_server(self._on_connect, HOST, 0, limit=_LINE_LIMIT)
        self._server = server
        self._port = int(server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        server = self._server
        if server is None:
            return
        self._closing = True
        server.close()
        connections = list(self._connections)
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        await server.wait_closed()
        self._server = None
        self._port = None

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain callback (not a coroutine) so that every connection task is tracked from its creation.
        if self._closing:
            writer.close()
            return
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            keep_alive = True
            while keep_alive:
                try:
                    request = await read_request(reader, writer)
                except _HTTPError as error:
                    await write_response(writer, None, plain_text(error.status, error.message), False)
                    return
                if request is None:
                    return
                response = await self._answer(request)
                keep_alive = await write_response(writer, request, response, _keep_alive(request))
        except (_ClientGone, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, request: Request) -> Response:
        try:
            return await self.handle(request)
        except Exception as error:  # a handler bug: tell the client rather than hang up
            return plain_text(500, f"{type(self).__name__} failed: {error!r}")
