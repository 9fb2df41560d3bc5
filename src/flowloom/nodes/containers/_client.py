"""``DockerClient``: the few Docker Engine API calls ``docker.run`` needs, over the engine's Unix socket
(Docker's, or Podman's compatible ``podman system service``).

httpx with a Unix-socket transport carries every call; httpx is already flowloom's HTTP client, it is
async (docker-py is synchronous and would hold a thread per running container), and the API is small.
The one call HTTP libraries do not cover, writing a container's stdin, upgrades its own connection
(``POST /containers/{id}/attach`` with ``Upgrade: tcp``) on an anyio Unix socket.
"""

from __future__ import annotations

import os
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio

DEFAULT_SOCKET = "/var/run/docker.sock"
_STDOUT, _STDERR = 1, 2


class DockerError(Exception):
    """The engine answered with an error (``status``) or could not be reached (``status`` 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Ulimit:
    name: str
    soft: int
    hard: int

    def to_api(self) -> dict[str, Any]:
        return {"Name": self.name, "Soft": self.soft, "Hard": self.hard}


# Containers get these unless told otherwise: some engines (rootless Podman, containers in containers)
# cannot raise a limit above their own and refuse to start a container that inherits a higher one.
DEFAULT_ULIMITS = (Ulimit("nofile", 1024, 1024), Ulimit("nproc", 1024, 1024))


class DockerClient:
    """A Docker Engine API client on the Unix socket ``socket_path``."""

    def __init__(
        self, socket_path: str = DEFAULT_SOCKET, *, ulimits: tuple[Ulimit, ...] = DEFAULT_ULIMITS
    ) -> None:
        import httpx

        self.socket_path = socket_path
        self.ulimits = ulimits
        self._http = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=socket_path), base_url="http://docker", timeout=None
        )

    @classmethod
    def from_env(cls) -> DockerClient:
        """The socket ``$DOCKER_HOST`` names (``unix:///path``), else Docker's default."""
        host = os.environ.get("DOCKER_HOST", "")
        return cls(host.removeprefix("unix://") if host.startswith("unix://") else DEFAULT_SOCKET)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None
    ) -> Any:
        import httpx

        try:
            response = await self._http.request(method, path, params=params, json=body)
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise DockerError(
                0, f"cannot reach the Docker Engine API at {self.socket_path} ({reason})"
            ) from exc
        if response.status_code >= 400:
            try:
                message = str(response.json().get("message") or response.text)
            except ValueError:
                message = response.text
            raise DockerError(response.status_code, message.strip())
        return response

    async def ping(self) -> bool:
        try:
            answer: str = (await self._call("GET", "/_ping")).text
        except DockerError:
            return False
        return answer.strip() == "OK"

    async def image_exists(self, image: str) -> bool:
        try:
            await self._call("GET", f"/images/{image}/json")
        except DockerError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def pull(self, image: str) -> None:
        await self._call("POST", "/images/create", params={"fromImage": image})
        if not await self.image_exists(image):
            raise DockerError(404, f"pulling {image} gave no image")

    async def create(self, spec: Mapping[str, Any]) -> str:
        answer = (await self._call("POST", "/containers/create", body=spec)).json()
        return str(answer["Id"])

    async def start(self, container: str) -> None:
        await self._call("POST", f"/containers/{container}/start")

    async def wait(self, container: str) -> int:
        answer = (await self._call("POST", f"/containers/{container}/wait")).json()
        return int(answer.get("StatusCode", -1))

    async def logs(self, container: str) -> tuple[bytes, bytes]:
        """stdout and stderr (the API multiplexes them in frames: type, 3 zero bytes, size, payload)."""
        raw = (
            await self._call("GET", f"/containers/{container}/logs", params={"stdout": 1, "stderr": 1})
        ).content
        return demultiplex(raw)

    async def kill(self, container: str) -> None:
        try:
            await self._call("POST", f"/containers/{container}/kill")
        except DockerError:
            pass  # it ended already

    async def remove(self, container: str) -> None:
        try:
            await self._call("DELETE", f"/containers/{container}", params={"force": 1, "v": 1})
        except DockerError:
            pass  # removed already (AutoRemove)

    @asynccontextmanager
    async def stdin_of(self, container: str) -> AsyncIterator[Callable[[bytes], Awaitable[None]]]:
        """Attach to a created container's stdin (before ``start``); yields ``send(data)``, which writes
        ``data`` and closes the container's stdin (it was created with ``StdinOnce``)."""
        try:
            stream = await anyio.connect_unix(self.socket_path)
        except OSError as exc:
            raise DockerError(0, f"cannot reach the Docker Engine API at {self.socket_path} ({exc})") from exc
        async with stream:
            request = (
                f"POST /containers/{container}/attach?stream=1&stdin=1 HTTP/1.1\r\n"
                "Host: docker\r\nUpgrade: tcp\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\r\n"
            )
            await stream.send(request.encode("ascii"))
            head = b""
            while b"\r\n\r\n" not in head:
                head += await stream.receive()
            status = head.split(b" ", 2)[1:2]
            if status not in ([b"101"], [b"200"]):
                raise DockerError(0, f"attaching to the container's stdin was refused: {head[:200]!r}")

            async def send(data: bytes) -> None:
                if data:
                    await stream.send(data)
                await stream.send_eof()

            yield send


def demultiplex(raw: bytes) -> tuple[bytes, bytes]:
    out: list[bytes] = []
    err: list[bytes] = []
    at = 0
    while at + 8 <= len(raw):
        kind, size = raw[at], struct.unpack(">I", raw[at + 4 : at + 8])[0]
        payload = raw[at + 8 : at + 8 + size]
        (err if kind == _STDERR else out).append(payload)
        at += 8 + size
    return b"".join(out), b"".join(err)
