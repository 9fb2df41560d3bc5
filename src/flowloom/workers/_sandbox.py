"""The parent side of the Python code sandbox: a warm pool of worker processes (DESIGN "Code nodes").

Each worker is a long-lived interpreter running ``_worker.main`` (wrapped in bubblewrap when it works here:
read-only root, private /tmp, no network, own pid/ipc/uts namespaces, dies with its parent), which compiles
scripts with RestrictedPython (cached by source hash) and runs them under rlimits. The parent writes one
request frame and reads one reply frame (``_frames``; the reply's size is checked before it is read); it
enforces the wall-clock time limit, and a worker that overruns it, or whose caller is cancelled, is SIGKILLed
with everything it started and replaced by a fresh one on a later call. A short script has usually replied by
the time the request is written (see ``Worker.send``): the call then completes without waiting on the pipes.

The pipes are plain non-blocking fds awaited with ``anyio.wait_readable``/``wait_writable`` rather than an
event loop's subprocess transports, so a pool is not tied to the loop that started its workers: an engine
may serve ``run_sync`` calls (a new loop each) with one pool. Workers are started from the event loop's
thread (a fork/exec of a millisecond or so, as ``anyio.open_process`` also does) because the kernel's
parent-death signal follows the thread that forked, and a worker thread would take the workers with it.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

import anyio

from flowloom.ir import CodeLanguage, CodeLimits, SandboxError

from ._frames import ERROR, JAVASCRIPT, OK, READY, REQUEST, REQUEST_FRAME, RUN, STATS, dump_json
from ._isolation import bwrap_executable, bwrap_probes, probe
from ._javascript import JavaScriptError, JavaScriptLimits, JavaScriptTimeout, run_javascript
from ._process import (
    PYTHON,
    BadReply,
    Reply,
    ReplyTooLarge,
    Worker,
    WorkerDied,
    close_fds,
    kill_all,
    read_child_pid,
    start_process,
)

__all__ = ["Isolation", "SandboxPool"]

logger = logging.getLogger("flowloom.workers")

Isolation = Literal["auto", "bwrap", "none"]

_PACKAGE_DIR: Final = Path(__file__).resolve().parent
_JAVASCRIPT_KILL_GRACE_S: Final = 1.0


# Starts the worker without running flowloom/__init__.py (which imports the engine): bare package modules
# pointing at the source directories are enough for ``flowloom.workers._worker`` and its siblings.
_BOOT: Final = """\
import sys, types
for name, path in (("flowloom", sys.argv[1]), ("flowloom.workers", sys.argv[2])):
    package = types.ModuleType(name)
    package.__path__ = [path]
    sys.modules[name] = package
from flowloom.workers._worker import main
main(sys.argv[3])
"""


_SPAWN_TIMEOUT_S: Final = 30.0
_REPLY_SLACK: Final = 64 * 1024  # room for the JSON envelope and error messages above max_output_bytes


class SandboxPool:
    """A pool of ``size`` sandbox worker processes running untrusted Python and JavaScript code; a
    ``flowloom.ir.Sandbox``.

    Workers start on first use. ``memory_bytes`` is the address-space limit a new worker is started with
    (a request may ask for less; one asking for more gets a worker started with its limit). Imports are
    refused unless ``allowed_imports`` names the top-level module. A result whose JSON exceeds
    ``max_output_bytes`` fails the call. ``isolation``: ``"auto"`` uses bubblewrap when it works here and
    otherwise warns and relies on rlimits alone; ``"bwrap"`` requires it; ``"none"`` never uses it.
    """

    def __init__(
        self,
        size: int = 2,
        *,
        memory_bytes: int = 512 * 1024 * 1024,
        allowed_imports: frozenset[str] = frozenset(),
        max_output_bytes: int = 16 * 1024 * 1024,
        isolation: Isolation = "auto",
        cache_size: int = 256,
    ) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        if not 0 < max_output_bytes < 2**32 - _REPLY_SLACK:
            raise ValueError("max_output_bytes must be positive and below 4 GB")
        self._size = size
        self._memory_bytes = memory_bytes
        self._allowed_imports = frozenset(allowed_imports)
        self._max_output_bytes = max_output_bytes
        self._isolation: Isolation = isolation
        self._cache_size = cache_size
        self._slots = anyio.Semaphore(size, fast_acquire=True)
        self._startup = anyio.Lock()
        self._bwrap: list[str] | None = None  # the bwrap command prefix once probed (None: without)
        self._probed = False
        self._idle: list[Worker] = []
        self._workers: set[Worker] = set()
        self._closed = False
        self._requests = 0
        # A pool dropped without aclose() (an engine never closed, interpreter exit) still kills its workers.
        weakref.finalize(self, kill_all, self._workers)

    @property
    def isolation(self) -> Literal["bwrap", "none"] | None:
        """How workers are isolated: ``"bwrap"`` or ``"none"`` (rlimits only); None before the first run."""
        if not self._probed:
            return None
        return "bwrap" if self._bwrap is not None else "none"

    def worker_pids(self) -> list[int]:
        """Host PIDs of the workers' processes (bwrap's, under bubblewrap), for tests and debugging."""
        return sorted(worker.pid for worker in self._workers)

    async def run(
        self, language: CodeLanguage, source: str, params: Mapping[str, Any], limits: CodeLimits
    ) -> Any:
        """Run ``main`` of ``source`` and return its JSON result: ``main({"params": params})`` of a Python
        script (RestrictedPython, in a worker process under ``limits.time_limit_s`` and
        ``limits.python_memory_bytes``), or ``main({ params })`` of a JavaScript one on QuickJS, as
        upstream's code node runs it. Raises ``SandboxError`` for every failure of the script, its time
        limit, memory limit or output size, with upstream's message text for JavaScript."""
        if language == CodeLanguage.PYTHON:
            time_limit_s, memory_bytes = limits.time_limit_s, limits.python_memory_bytes
            frame, rid = self._request(RUN, source, params, time_limit_s, memory_bytes)
            return await self._call(frame, rid, memory_bytes, time_limit_s, time_limit_s)
        if language == CodeLanguage.JAVASCRIPT:
            return await self._run_javascript(source, params, limits)
        known = " or ".join(f'"{known}"' for known in CodeLanguage)
        raise SandboxError(f'unsupported language "{language}": the sandbox runs {known}')

    async def _run_javascript(self, source: str, params: Mapping[str, Any], limits: CodeLimits) -> Any:
        """The script first runs here, on the caller's thread, for at most ``limits.inline_budget_s``: most
        scripts finish well within it, and a hand-off to a worker costs more than they do. A script that
        needs longer starts again in a worker process with its whole time limit, where canceling the call
        kills it (QuickJS cannot be interrupted from outside). Scripts have no host access, so the abandoned
        first attempt leaves no trace."""
        inline = limits.inline_budget_s > 0
        inline_limits = JavaScriptLimits(  # built (and so checked) whether or not the script runs here
            memory_bytes=limits.memory_bytes,
            stack_bytes=limits.stack_bytes,
            time_limit_s=min(limits.inline_budget_s, limits.time_limit_s) if inline else limits.time_limit_s,
        )
        if inline:
            try:
                return run_javascript(source, params, inline_limits)
            except JavaScriptTimeout as exc:
                if inline_limits.time_limit_s >= limits.time_limit_s:
                    raise SandboxError(str(exc)) from None
            except JavaScriptError as exc:
                raise SandboxError(str(exc)) from None
        frame, rid = self._request(
            JAVASCRIPT,
            source,
            params,
            limits.time_limit_s,
            self._memory_bytes,
            js_memory_bytes=limits.memory_bytes,
            js_stack_bytes=limits.stack_bytes,
        )
        # QuickJS interrupts the script at its time limit; the kill is the backstop.
        kill_after_s = limits.time_limit_s + _JAVASCRIPT_KILL_GRACE_S
        return await self._call(frame, rid, self._memory_bytes, limits.time_limit_s, kill_after_s)

    def _request(
        self,
        op: bytes,
        source: str,
        params: Mapping[str, Any],
        time_limit_s: float,
        memory_bytes: int,
        *,
        js_memory_bytes: int = 0,
        js_stack_bytes: int = 0,
    ) -> tuple[bytes, int]:
        """The frame of a run request, and its id."""
        if self._closed:
            raise RuntimeError("this SandboxPool is closed")
        try:
            params_json = dump_json(params)
        except (TypeError, ValueError, RecursionError) as exc:
            raise SandboxError(f"params are not JSON-serializable: {exc}") from None
        code = source.encode("utf-8", "surrogatepass")
        size = REQUEST.size + len(code) + len(params_json)
        if size >= 2**32:
            raise SandboxError("params are not JSON-serializable: the request is larger than 4 GB")
        self._requests += 1
        rid = self._requests
        try:
            head = REQUEST_FRAME.pack(
                size, op, rid, time_limit_s, memory_bytes, js_memory_bytes, js_stack_bytes, len(code)
            )
        except struct.error:  # a negative or absurd limit
            limits = f"time_limit_s={time_limit_s!r}, python_memory_bytes={memory_bytes!r}"
            raise SandboxError(f"invalid sandbox limits: {limits}") from None
        return b"".join((head, code, params_json)), rid

    async def _call(
        self, frame: bytes, rid: int, memory_bytes: int, time_limit_s: float, kill_after_s: float
    ) -> Any:
        """Send the request ``frame`` to an idle worker; kill the worker if no reply came in
        ``kill_after_s`` or the caller was canceled."""
        try:
            self._slots.acquire_nowait()  # the usual case: a worker is free, no need to visit the event loop
        except anyio.WouldBlock:
            await self._slots.acquire()
        try:
            if self._closed:
                raise RuntimeError("this SandboxPool is closed")
            worker = await self._checkout(memory_bytes)
            reply: Reply | None = None
            failure: str | None = None
            try:
                started = time.monotonic()
                reply = worker.send(frame, rid)
                if reply is None:
                    with anyio.move_on_after(kill_after_s - (time.monotonic() - started)):
                        reply = await worker.reply(rid)
            except WorkerDied:
                failure = await worker.death_reason()
            except ReplyTooLarge as exc:
                failure = f"output too large: {exc.size} bytes (limit {self._max_output_bytes})"
            except BadReply:
                failure = "the sandbox worker sent an invalid reply"
            finally:
                # Whatever stopped the request (its time limit, the caller's cancellation, a dead worker),
                # the worker may still be running the script: kill it. So is one that replied nonsense.
                if reply is None or reply[0] not in (OK, ERROR) or self._closed:
                    await self._discard(worker)
                else:
                    self._idle.append(worker)
        finally:
            self._slots.release()
        if failure is not None:
            raise SandboxError(failure if not self._closed else "the sandbox was closed while the script ran")
        if reply is None:
            raise SandboxError(f"time limit of {time_limit_s:g} s exceeded")
        kind, value = reply
        if kind == OK:
            return value
        if kind == ERROR:
            raise SandboxError(value)
        raise SandboxError("the sandbox worker sent an invalid reply")

    async def stats(self) -> list[dict[str, int]]:
        """Compile-cache counters (``compiles``, ``hits``, ``entries``) of each idle worker."""
        results: list[dict[str, int]] = []
        for _ in range(len(self._idle)):
            self._requests += 1
            rid = self._requests
            frame = REQUEST_FRAME.pack(REQUEST.size, STATS, rid, 0.0, 0, 0, 0, 0)
            async with self._slots:
                if not self._idle:
                    break
                worker = self._idle.pop(0)
                reply: Reply | None = None
                try:
                    with anyio.move_on_after(_SPAWN_TIMEOUT_S):
                        reply = worker.send(frame, rid) or await worker.reply(rid)
                except (WorkerDied, ReplyTooLarge, BadReply):
                    pass
                finally:
                    if reply is None or reply[0] != STATS:
                        await self._discard(worker)
                    else:
                        self._idle.append(worker)
                if reply is not None and reply[0] == STATS:
                    results.append(dict(reply[1]))
        return results

    async def aclose(self) -> None:
        """Kill every worker and wait for them to exit; later ``run`` calls raise ``RuntimeError``."""
        self._closed = True
        self._idle.clear()
        with anyio.CancelScope(shield=True):
            for worker in list(self._workers):
                await self._discard(worker)

    async def __aenter__(self) -> SandboxPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- workers ---------------------------------------------------------------------------------------

    async def _checkout(self, memory_bytes: int) -> Worker:
        while self._idle:
            worker = self._idle.pop()
            if worker.memory_bytes >= memory_bytes and worker.popen.poll() is None:
                return worker
            await self._discard(worker)
        return await self._spawn(max(memory_bytes, self._memory_bytes))

    async def _discard(self, worker: Worker) -> None:
        self._workers.discard(worker)
        await worker.kill()

    async def _spawn(self, memory_bytes: int) -> Worker:
        async with self._startup:
            if not self._probed:
                self._bwrap = await self._bwrap_prefix()
                self._probed = True
        config = {
            "memory_bytes": memory_bytes,
            "max_output_bytes": self._max_output_bytes,
            "allowed_imports": sorted(self._allowed_imports),
            "cache_size": self._cache_size,
            # Without bwrap the worker checks its parent is still this process once PDEATHSIG is armed.
            "parent_pid": 0 if self._bwrap is not None else os.getpid(),
        }
        command = [*PYTHON, "-c", _BOOT, str(_PACKAGE_DIR.parent), str(_PACKAGE_DIR), json.dumps(config)]
        info_read = info_write = -1
        if self._bwrap is not None:
            # bwrap reports the host PID of the sandbox's init on --info-fd: killing that process tears
            # down the whole pid namespace, and bwrap then exits on its own, leaving no zombie behind.
            info_read, info_write = os.pipe()
            command = [*self._bwrap, "--info-fd", str(info_write), *command]
        try:
            popen = start_process(command, info_write)
        except OSError as exc:
            close_fds(info_read)
            raise SandboxError(f"could not start a sandbox worker: {exc}") from None
        finally:
            close_fds(info_write)
        worker = Worker(popen, memory_bytes, self._max_output_bytes + _REPLY_SLACK, self._bwrap is not None)
        self._workers.add(worker)
        try:
            ready: Reply | None = None
            with anyio.move_on_after(_SPAWN_TIMEOUT_S):
                ready = await worker.reply(0)
            if ready is None or ready[0] != READY:
                raise WorkerDied
            if info_read >= 0:
                worker.adopt_sandbox_init(read_child_pid(info_read))
        except (WorkerDied, ReplyTooLarge, BadReply):
            reason = await worker.death_reason()
            details = worker.stderr_tail()
            await self._discard(worker)
            raise SandboxError(f"could not start a sandbox worker: {reason}{details}") from None
        except BaseException:
            await self._discard(worker)
            raise
        finally:
            close_fds(info_read)
        return worker

    async def _bwrap_prefix(self) -> list[str] | None:
        if self._isolation == "none":
            return None
        path, reason = bwrap_executable()
        if path is not None:
            if path not in bwrap_probes:
                bwrap_probes[path] = await probe(path)
            flags = bwrap_probes[path]
            if flags is not None:
                return [path, *flags]
            reason = "it cannot create a sandbox here"
        if self._isolation == "bwrap":
            raise SandboxError(f"bubblewrap is required but unavailable: {reason}")
        logger.warning("bubblewrap is unavailable (%s): Python sandbox workers run with rlimits only", reason)
        return None
