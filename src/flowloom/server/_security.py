"""Request guards, as one ASGI middleware: optional bearer-token auth and a request body size limit."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs, quote

from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._errors import error_body, json_response

# Reachable without a token: the server's identity, so a client can tell it is talking to flowloom (and
# flowengine's health check, for probes); the dashboard's login form and its static files (no data in them).
OPEN_PATHS = frozenset({"/info", "/health", "/ui/login"})
# Webhooks check their own secret, or the token when they have none (server/_triggers_api.py).
_OPEN_PREFIXES = ("/ui/static/", "/hooks/")
_UI_PREFIX = "/ui"
SESSION_COOKIE = "flowloom_session"


def session_value(token: str) -> str:
    """The dashboard's session cookie for ``token``: derived from it (the token itself never sits in a
    cookie), so changing the token ends every session."""
    return hmac.new(token.encode("utf-8"), b"flowloom dashboard session", hashlib.sha256).hexdigest()


# Browsers cannot set headers on EventSource and WebSocket requests: these take ``?token=`` too.
_STREAM_PATH_SUFFIX = "/events"


class BodyTooLarge(Exception):
    """The body grew past the limit while it was being read."""


class SecurityMiddleware:
    """Refuses a request without the bearer token (401) or with a body over ``max_body_bytes`` (413),
    judged on ``Content-Length`` first and again while the body is read."""

    def __init__(self, app: ASGIApp, *, token: str | None, max_body_bytes: int) -> None:
        self.app = app
        self._token = token.encode("utf-8") if token else None
        self._session = session_value(token).encode("ascii") if token else None
        self._max = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if self._token is not None and path not in OPEN_PATHS and not path.startswith(_OPEN_PREFIXES):
            problem = self._auth_problem(scope)
            if problem is not None and _is_page(scope):
                await _to_login(scope, receive, send)
                return
            if problem is not None:
                await _refuse(scope, receive, send, 401, "UNAUTHORIZED", problem)
                return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self._max:
            message = f"Request body too large: {declared} bytes; the limit is {self._max} bytes"
            await _refuse(scope, receive, send, 413, "PAYLOAD_TOO_LARGE", message)
            return
        await self._guarded(scope, receive, send)

    def _auth_problem(self, scope: Scope) -> str | None:
        assert self._token is not None and self._session is not None
        given: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, credentials = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    given = credentials.strip()
            elif name == b"cookie" and given is None:  # the dashboard's session (see session_value)
                session = _cookie(value, SESSION_COOKIE)
                if session is not None and hmac.compare_digest(session, self._session):
                    return None
        if given is None and scope["path"].endswith(_STREAM_PATH_SUFFIX):
            tokens = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
            given = tokens[-1].encode("utf-8") if tokens else None
        if given is None:
            return "Missing bearer token: send the header 'Authorization: Bearer <token>'"
        if not hmac.compare_digest(given, self._token):
            return "Invalid bearer token"
        return None

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self._max:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            message = f"Request body too large: more than {self._max} bytes"
            await _refuse(scope, receive, send, 413, "PAYLOAD_TOO_LARGE", message)


def _cookie(header: bytes, name: str) -> bytes | None:
    for part in header.split(b";"):
        key, _, value = part.strip().partition(b"=")
        if key.decode("latin-1") == name:
            return value
    return None


def _is_page(scope: Scope) -> bool:
    """A dashboard page asked for by a browser: sent to the login form rather than refused."""
    path: str = scope["path"]
    return (
        scope["type"] == "http"
        and scope["method"] == "GET"
        and (path == _UI_PREFIX or path.startswith("/ui/"))
    )


async def _to_login(scope: Scope, receive: Receive, send: Send) -> None:
    target = quote(
        scope["path"] + ("?" + scope["query_string"].decode("latin-1") if scope["query_string"] else "")
    )
    await RedirectResponse(f"/ui/login?next={target}", 303)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP server rejects a malformed length before we see it
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str) -> None:
    body = error_body(scope["path"], status, code, message)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if scope["type"] == "http":
        await json_response(body, status, headers)(scope, receive, send)
        return
    # A WebSocket handshake: an HTTP answer where the server supports it, else a policy-violation close.
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        response = json_response(body, status, headers)
        await send(
            {"type": "websocket.http.response.start", "status": status, "headers": response.raw_headers}
        )
        await send({"type": "websocket.http.response.body", "body": response.body})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": message})
