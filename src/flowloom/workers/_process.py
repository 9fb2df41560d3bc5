"""One sandbox worker process: its protocol pipes, requests and replies, and how it is killed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from typing import Any, Final, TypeAlias

import anyio

from ._frames import ERROR, LENGTH, OK, READY, REPLY, REPLY_FRAME, STATS, load_json

# -I: ignore PYTHON* variables and the user's site-packages; -B: write no bytecode.
PYTHON: Final = (sys.executable, "-I", "-B")

# Workers get a minimal environment: nothing of the host's (tokens, keys) is inherited.
WORKER_ENV: Final = {"PATH": os.defpath, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def kill_all(workers: set[Worker]) -> None:
    for worker in list(workers):
        worker.kill_now()
    workers.clear()


class WorkerDied(Exception):
    pass


class BadReply(Exception):
    pass


class ReplyTooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


# A reply's kind (``_frames.OK``...) and its payload: the decoded JSON of OK and STATS, the text of ERROR and
# READY.
Reply: TypeAlias = tuple[bytes, Any]

_READ_SIZE: Final = 1 << 16
_MAX_READ_SIZE: Final = 1 << 22


class Worker:
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
        self._buffer = bytearray()  # reply bytes read so far
        self._read_size = _READ_SIZE
        self._unsent = memoryview(b"")  # request bytes not written yet
        self._max_reply_bytes = max_reply_bytes
        self._exited = open_pidfd(popen.pid)  # readable once the process has exited
        self._sandbox_init = -1  # a pidfd of bwrap's init in the sandbox's pid namespace
        self._killed = False

    def adopt_sandbox_init(self, pid: int | None) -> None:
        if pid is None or (pidfd := open_pidfd(pid)) < 0:
            return
        if parent_pid(pid) == self.pid:  # still bwrap's child: the PID was not reused
            self._sandbox_init = pidfd
        else:
            os.close(pidfd)

    def send(self, frame: bytes, rid: int) -> Reply | None:
        """Write the request ``frame`` as far as the pipe takes it now, and return its reply if the worker
        has already written it all (``reply`` gets it otherwise). Often it has: the write wakes the worker,
        which the kernel tends to run on this CPU at once, so a short script is done before this process
        runs again, and the call needs no event loop round trip."""
        self._unsent = memoryview(frame)
        self._write_unsent()
        if self._unsent or not self._read_available():
            return None
        return self._take_reply(rid)

    async def reply(self, rid: int) -> Reply:
        """The reply to request ``rid`` (anything else means the worker is broken), once the rest of the
        request is written."""
        while self._unsent:
            await self._wait(anyio.wait_writable, self._requests)
            self._write_unsent()
        while (reply := self._take_reply(rid)) is None:
            # Wait first: ``send`` has just read what there was (and a new worker is slow to be ready).
            await self._wait(anyio.wait_readable, self._replies)
            self._read_available()
        return reply

    def _write_unsent(self) -> None:
        try:
            while self._unsent:
                self._unsent = self._unsent[os.write(self._requests, self._unsent) :]
        except BlockingIOError:
            pass
        except OSError:  # BrokenPipeError: the worker is gone
            raise WorkerDied from None

    def _read_available(self) -> bool:
        """Add what the worker has written to the buffer; False if there was nothing."""
        try:
            chunk = os.read(self._replies, self._read_size)
        except BlockingIOError:
            return False
        except OSError:
            raise WorkerDied from None
        if not chunk:
            raise WorkerDied
        self._buffer += chunk
        return True

    def _take_reply(self, rid: int) -> Reply | None:
        buffer = self._buffer
        if len(buffer) < LENGTH.size:
            return None
        (size,) = LENGTH.unpack_from(buffer)
        if size > self._max_reply_bytes:
            raise ReplyTooLarge(size)
        end = LENGTH.size + size
        if len(buffer) < end:
            self._read_size = min(max(end - len(buffer), _READ_SIZE), _MAX_READ_SIZE)
            return None
        self._read_size = _READ_SIZE
        if len(buffer) > end or size < REPLY.size:  # one reply per request, never more
            raise BadReply
        kind, got = REPLY.unpack_from(buffer, LENGTH.size)
        if got != rid:
            raise BadReply
        payload = buffer[REPLY_FRAME.size :]
        buffer.clear()
        try:
            if kind == OK or kind == STATS:
                return kind, load_json(payload)
            if kind == ERROR or kind == READY:
                return kind, str(payload, "utf-8", "surrogatepass")
        except (ValueError, RecursionError):  # not UTF-8, not JSON, absurdly nested JSON
            pass
        raise BadReply

    async def _wait(self, waiter: Any, fd: int) -> None:
        try:
            await waiter(fd)
        except (anyio.ClosedResourceError, anyio.BusyResourceError):  # killed (by aclose) meanwhile
            raise WorkerDied from None

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
            if self._kill_sandbox_init():
                await self._reap(2.0)  # bwrap reaps its init and exits on its own
            if self.popen.poll() is None:
                self._kill_group()
                await self._reap(5.0)
            for fd in (self._requests, self._replies):
                anyio.notify_closing(fd)  # wakes a request still waiting on the pipe
            self._release()

    def kill_now(self) -> None:
        """``kill`` for a pool that was dropped without ``aclose()``: no event loop, a bounded wait."""
        if self._killed:
            return
        self._killed = True
        self._kill_sandbox_init()
        self._kill_group()
        try:
            self.popen.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            pass
        self._release()

    def _kill_sandbox_init(self) -> bool:
        """SIGKILL bwrap's init (tearing down the sandbox's pid namespace); False if there is none."""
        if self._sandbox_init < 0:
            return False
        try:
            signal.pidfd_send_signal(self._sandbox_init, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return True

    def _kill_group(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            self.popen.kill()

    def _release(self) -> None:
        for file in self._files:
            try:
                file.close()
            except OSError:
                pass
        close_fds(self._exited, self._sandbox_init)
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


def start_process(command: list[str], info_write: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,  # read only if the worker fails to start
        cwd="/",
        env=WORKER_ENV,
        start_new_session=True,  # its own process group, killed as one
        pass_fds=(info_write,) if info_write >= 0 else (),
    )


def open_pidfd(pid: int) -> int:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux >= 5.3, or already gone
        return -1


def close_fds(*fds: int) -> None:
    for fd in fds:
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


def read_child_pid(fd: int) -> int | None:
    # bwrap writes its info JSON before the sandboxed command starts, so after the worker's ready frame it
    # is already in the pipe: a non-blocking read gets it.
    os.set_blocking(fd, False)
    try:
        data = os.read(fd, 4096)
    except BlockingIOError:
        return None
    match = re.search(rb'"child-pid"\s*:\s*(\d+)', data)
    return int(match[1]) if match else None


def parent_pid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
    except OSError:
        return None
    return int(fields[1]) if len(fields) > 1 else None
