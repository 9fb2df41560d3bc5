"""``Sandbox``: commands with injected files run in isolation, returning ``(exit_code, stdout, stderr)``.
Without a URL, the local bubblewrap sandbox ``sandbox.exec`` uses (no network, read-only system, private
``/tmp``, nothing of this process's environment); with ``zypi_url``, a client of Zypi's REST API
(``POST <zypi_url>/exec``)."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any

import anyio
import httpx

from flowloom.engine import NodeError
from flowloom.nodes.sandboxes._process import SANDBOX_PATH, Sandboxed, run_sandboxed

_ZYPI_GRACE_S = 10.0  # how much longer than the command's timeout Zypi may take to answer


class SandboxError(Exception):
    """A sandboxed command could not run, timed out, or (``check_output``) exited non-zero."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxConfig:
    """Where commands run (``zypi_url``; ``None``: the local bubblewrap sandbox), the default ``image``
    (Zypi's; accepted and unused locally) and the default ``timeout`` in seconds."""

    zypi_url: str | None = None
    image: str = "ubuntu:24.04"
    timeout: float = 300


class Sandbox:
    """Runs commands in a sandbox: ``exec`` → ``(exit_code, stdout, stderr)``, ``check_output`` → stdout
    (``SandboxError`` on a non-zero exit), ``run`` → ``subprocess.CompletedProcess`` (bytes). A context
    manager; ``close()`` releases the HTTP connection to Zypi."""

    def __init__(
        self, zypi_url: str | None = None, image: str = "ubuntu:24.04", timeout: float = 300
    ) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(f"Sandbox timeout must be a positive number of seconds, not {timeout!r}")
        self.config = SandboxConfig(
            zypi_url=zypi_url.rstrip("/") if zypi_url else None, image=image, timeout=timeout
        )
        self._http: httpx.Client | None = None

    def exec(
        self,
        cmd: Sequence[str],
        *,
        image: str | None = None,
        env: Mapping[str, str] | None = None,
        workdir: str | None = None,
        files: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> tuple[int, str, str]:
        """Run ``cmd`` (a list of strings) with ``files`` (absolute path → text) injected and ``env`` as its
        environment (besides ``PATH``, ``HOME``, ``LANG``). ``SandboxError`` if it cannot run or runs past
        ``timeout`` seconds."""
        argv = _argv(cmd)
        limit = self.config.timeout if timeout is None else timeout
        if self.config.zypi_url is not None:
            return self._exec_zypi(argv, image or self.config.image, env, workdir, files, limit)
        spec = Sandboxed(
            argv=argv,
            env={
                "PATH": SANDBOX_PATH,
                "HOME": "/tmp",
                "LANG": "C.UTF-8",
                **{str(k): str(v) for k, v in (env or {}).items()},
            },
            workdir=workdir or "/tmp",
            files=dict(files or {}),
        )
        try:
            done = anyio.run(partial(run_sandboxed, spec, stdin=None, timeout_s=limit))
        except TimeoutError:
            raise SandboxError(f"Command timed out after {limit}s: {' '.join(argv)}") from None
        except NodeError as exc:
            raise SandboxError(str(exc)) from exc
        return done.exit_code, done.stdout, done.stderr

    def check_output(self, cmd: Sequence[str], **kwargs: Any) -> str:
        """``exec``'s stdout; ``SandboxError("Command failed with exit code <n>: <stderr>")`` if non-zero."""
        code, stdout, stderr = self.exec(cmd, **kwargs)
        if code != 0:
            raise SandboxError(f"Command failed with exit code {code}: {stderr}")
        return stdout

    def run(self, cmd: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        """``exec`` as a ``CompletedProcess`` with bytes ``stdout``/``stderr``."""
        code, stdout, stderr = self.exec(cmd, **kwargs)
        return subprocess.CompletedProcess(list(cmd), code, stdout.encode(), stderr.encode())

    def health_check(self) -> bool:
        """Whether commands can run: Zypi answers ``GET /health``, or bubblewrap runs here."""
        if self.config.zypi_url is None:
            try:
                return self.exec(["true"], timeout=30)[0] == 0
            except SandboxError:
                return False
        try:
            return self._client().get(f"{self.config.zypi_url}/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.config.zypi_url or "local bubblewrap"
        return f"Sandbox({where!r}, image={self.config.image!r})"

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client()
        return self._http

    def _exec_zypi(
        self,
        argv: list[str],
        image: str,
        env: Mapping[str, str] | None,
        workdir: str | None,
        files: Mapping[str, str] | None,
        timeout: float,
    ) -> tuple[int, str, str]:
        url = f"{self.config.zypi_url}/exec"
        body: dict[str, Any] = {"cmd": argv, "image": image, "timeout": timeout}
        if env:
            body["env"] = dict(env)
        if workdir:
            body["workdir"] = workdir
        if files:
            body["files"] = dict(files)
        try:
            response = self._client().post(url, json=body, timeout=timeout + _ZYPI_GRACE_S)
        except httpx.TimeoutException:
            raise SandboxError(
                f"Command timed out after {timeout}s (Zypi at {self.config.zypi_url} did not answer)"
            ) from None
        except httpx.ConnectError:
            raise SandboxError(f"Cannot connect to Zypi at {self.config.zypi_url}. Is it running?") from None
        except httpx.HTTPError as exc:
            raise SandboxError(f"Zypi request to {url} failed: {exc or type(exc).__name__}") from exc
        try:
            answer = response.json()
        except ValueError as exc:
            raise SandboxError(f"Zypi answered {response.status_code} with a body that is not JSON") from exc
        if response.status_code != 200 or not isinstance(answer, dict):
            error = answer.get("error") if isinstance(answer, dict) else None
            raise SandboxError(f"Zypi error ({response.status_code}): {error or 'Unknown error'}")
        try:
            code = int(answer["exit_code"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SandboxError(f"Zypi's answer has no valid exit_code: {answer!r}") from exc
        if code != 0 and response.elapsed.total_seconds() >= timeout:  # Zypi killed it at its timeout
            raise SandboxError(f"Command timed out after {timeout}s: {' '.join(argv)}")
        return code, str(answer.get("stdout") or ""), str(answer.get("stderr") or "")


def _argv(cmd: Sequence[str]) -> list[str]:
    if isinstance(cmd, str) or not cmd or not all(isinstance(word, str) for word in cmd):
        raise SandboxError(f"a command is a non-empty list of strings, not {cmd!r}")
    return list(cmd)
