"""The ``zypi-mock`` server: a fake of Zypi's REST API (the flowengine corpus's contract). It has no
microVM: a command runs as a local process in a private directory.

- ``GET /health``; ``POST /sessions`` (201, a session keeps its directory and injected paths);
  ``POST /exec`` and ``POST /sessions/<id>/exec`` ``{cmd, image, env, workdir, files, timeout, ...}`` answer
  ``{exit_code, stdout, stderr, duration_ms}`` (plus ``session_id``).
- ``cmd[0] == "__request__"`` (or an element naming ``chromium``): nothing runs, stdout is the request as
  JSON ``{"body", "path"}``; ``["__status__", CODE, MESSAGE]`` answers CODE ``{"error": MESSAGE}``;
  ``["__garbage__"]`` answers 200 with a body that is not JSON.
- Injected paths (and ``workdir``) in the command are rewritten to their private location; the environment
  is ``PATH``, ``HOME``, ``LANG`` + ``env``; a command over ``timeout`` + 2 s is killed (exit 124), one that
  cannot start exits 127.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from ._server import LocalServer, Request, Response

_SESSION_EXEC = re.compile(r"/sessions/([^/]+)/exec")


@dataclass
class _Session:
    id: str
    root: Path
    paths: set[str] = field(default_factory=set)


def _json(status: int, value: Any) -> Response:
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(status, [("Content-Type", "application/json")], body)


def _error(status: int, message: str) -> Response:
    return _json(status, {"error": message})


class ZypiMockServer(LocalServer):
    """Zypi's REST surface on 127.0.0.1 (see the module docstring); ``base_url`` is its Zypi URL."""

    def __init__(self) -> None:
        super().__init__()
        self._counter = itertools.count(1)
        self._sessions: dict[str, _Session] = {}
        self._base: Path | None = None

    async def __aenter__(self) -> ZypiMockServer:
        self._base = Path(tempfile.mkdtemp(prefix="zypi-mock-"))
        return await super().__aenter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await super().__aexit__(exc_type, exc, tb)
        if self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
        self._sessions.clear()

    async def handle(self, request: Request) -> Response:
        if request.method == "GET" and request.path == "/health":
            return _json(200, {"status": "healthy", "service": "zypi-mock"})
        if request.method != "POST":
            return _error(404, f"no route {request.method} {request.path}")
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return _error(400, "request body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "request body must be a JSON object")
        if request.path == "/sessions":
            return self._create_session(body)
        if request.path == "/exec":
            return await self._exec(request.path, body, None)
        match = _SESSION_EXEC.fullmatch(request.path)
        if match:
            sid = urllib.parse.unquote(match.group(1))
            session = self._sessions.get(sid)
            if session is None:
                return _error(404, f"session {sid} not found")
            return await self._exec(request.path, body, session)
        return _error(404, f"no route POST {request.path}")

    def _create_session(self, body: dict[str, Any]) -> Response:
        assert self._base is not None
        n = next(self._counter)
        sid = f"sess-{n}"
        root = self._base / sid
        root.mkdir()
        self._sessions[sid] = _Session(sid, root)
        spelled = [body.get("vcpus", "-"), body.get("memory_mb", "-"), body.get("agent_id") or "-"]
        return _json(
            201,
            {
                "session_id": sid,
                "container_id": f"ctr-{n}/" + "/".join(str(part) for part in spelled),
                "ip": f"192.0.2.{n % 250 + 1}",
                "image": body.get("image", "ubuntu:24.04"),
            },
        )

    async def _exec(self, path: str, body: dict[str, Any], session: _Session | None) -> Response:
        cmd = body.get("cmd")
        if not isinstance(cmd, list) or not cmd or not all(isinstance(c, str) for c in cmd):
            return _error(400, "cmd must be a non-empty array of strings")
        files = body.get("files") or {}
        env = body.get("env") or {}
        workdir = body.get("workdir")
        if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
            return _error(400, "files must be an object of path -> string")
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            return _error(400, "env must be an object of name -> string")
        for p in [*files, *([workdir] if workdir else [])]:
            if not isinstance(p, str) or not p.startswith("/") or ".." in p.split("/"):
                return _error(400, f"path must be absolute: {p}")
        extra = {"session_id": session.id} if session else {}
        if cmd[0] == "__status__":
            return _error(int(cmd[1]) if len(cmd) > 1 else 500, cmd[2] if len(cmd) > 2 else "mock error")
        if cmd[0] == "__garbage__":
            return Response(200, [("Content-Type", "text/plain")], b"this is not json")
        if cmd[0] == "__request__" or any("chromium" in c for c in cmd):
            stdout = json.dumps(
                {"path": path, "body": body}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
            )
            return _json(200, {"exit_code": 0, "stdout": stdout, "stderr": "", "duration_ms": 1, **extra})
        started = time.monotonic()
        assert self._base is not None
        root = session.root if session else Path(tempfile.mkdtemp(dir=self._base))
        known = session.paths if session else set()
        try:
            _inject(root, known, files, workdir)
            reply = await self._run(cmd, root, known, env, workdir, body.get("timeout", 300))
        finally:
            if session is None:
                shutil.rmtree(root, ignore_errors=True)
        reply["duration_ms"] = int((time.monotonic() - started) * 1000)
        return _json(200, {**reply, **extra})

    async def _run(
        self,
        cmd: list[str],
        root: Path,
        known: set[str],
        env: dict[str, str],
        workdir: str | None,
        limit_s: Any,
    ) -> dict[str, Any]:
        cwd = Path(str(root) + workdir) if workdir else root
        paths = sorted(known, key=len, reverse=True)

        def rewrite(arg: str) -> str:  # longest first, through placeholders, so no path is rewritten twice
            for i, p in enumerate(paths):
                arg = arg.replace(p, f"\0{i}\0")
            for i, p in enumerate(paths):
                arg = arg.replace(f"\0{i}\0", str(root) + p)
            return arg

        proc_env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(root), "LANG": "C.UTF-8", **env}
        limit = float(limit_s) if isinstance(limit_s, int | float) else 300.0
        try:
            proc = await asyncio.create_subprocess_exec(
                *[rewrite(a) for a in cmd],
                cwd=cwd,
                env=proc_env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError:
            return {"exit_code": 127, "stdout": "", "stderr": f"mock: command not found: {cmd[0]}\n"}
        try:
            out, err = await asyncio.wait_for(proc.communicate(), limit + 2)
            code = proc.returncode or 0
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, err = await proc.communicate()
            code, err = 124, err + b"mock: killed after timeout\n"
        except asyncio.CancelledError:  # the server closes: the command goes too, its pipes closed
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.communicate()
            raise
        return {
            "exit_code": code if code >= 0 else 128 - code,
            "stdout": out.decode("utf-8", "replace"),
            "stderr": err.decode("utf-8", "replace"),
        }


def _inject(root: Path, known: set[str], files: dict[str, str], workdir: str | None) -> None:
    """Write the files under ``root`` and make the workdir (small, test-only: on the loop's thread)."""
    for p, content in files.items():
        target = Path(str(root) + p)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        known.add(p)
    if workdir:
        Path(str(root) + workdir).mkdir(parents=True, exist_ok=True)
        known.add(workdir)
