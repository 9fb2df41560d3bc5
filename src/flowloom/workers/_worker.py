"""The main of a sandbox worker process: serves script executions over length-prefixed frames.

The parent (``_sandbox.SandboxPool``) starts it with a bootstrap that registers bare ``flowloom`` and
``flowloom.workers`` packages, so the worker imports only this module, ``_frames``, ``_restricted``, the
standard library and RestrictedPython, not the engine. Frames (see ``_frames``) come in on the worker's
stdin and replies go out on its stdout; fds 0 and 1 are then pointed at /dev/null so nothing else can write
into the protocol. Each request gets exactly one reply: the result (``OK``), an error message (``ERROR``) or
the compile cache counters (``STATS``). The first frame the worker writes is ``READY`` with its pid.

Before serving, the worker drops root (if it has it), asks to be SIGKILLed if its parent dies and lowers its
rlimits (address space, no new processes or threads, no file writes, few fds, no core dumps). The CPU-time
limit is re-armed per request a little beyond the request's time limit, as a backstop to the parent's
wall-clock kill.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import math
import os
import resource
import signal
import stat
import sys
import time
from typing import Any, Final

from ._frames import (
    ERROR,
    JAVASCRIPT,
    LENGTH,
    OK,
    READY,
    REPLY,
    REPLY_FRAME,
    REQUEST,
    STATS,
    dump_json,
    load_json,
)
from ._javascript import JavaScriptError, JavaScriptLimits, run_javascript
from ._restricted import CodeCache, describe, make_globals, run_main

_NOBODY: Final = 65534


def main(config_json: str) -> None:
    config: dict[str, Any] = json.loads(config_json)
    in_fd, out_fd = _take_protocol_fds()
    worker = _Worker(config)  # imports all it will need (and the allow-listed modules) while it still can
    _drop_privileges(lazy_imports=bool(config.get("allowed_imports")))
    _die_with_parent(int(config.get("parent_pid", 0)))  # after the uid change, which clears the setting
    _lower_rlimits(int(config["memory_bytes"]))
    _write_frame(out_fd, *_reply(READY, 0, str(os.getpid()).encode()))
    _to_devnull(2)  # stderr carried start-up failures to the parent; nothing after that
    reader = os.fdopen(in_fd, "rb", buffering=1 << 16)
    while True:
        head = reader.read(LENGTH.size)
        if len(head) < LENGTH.size:
            return  # the parent closed the pipe
        (size,) = LENGTH.unpack(head)
        body = reader.read(size)
        if len(body) < size:
            return
        reply = worker.handle(body)
        del body
        if os.getpid() != worker.pid:
            os._exit(0)  # a child the script forked ("os" allow-listed where RLIMIT_NPROC cannot apply)
        _write_frame(out_fd, *reply)


class _Worker:
    def __init__(self, config: dict[str, Any]) -> None:
        self.pid = os.getpid()
        self.cache = CodeCache(int(config.get("cache_size", 256)))
        allowed = frozenset(config.get("allowed_imports", ()))
        for name in sorted(allowed):
            try:
                importlib.import_module(name)
            except Exception:  # reported when a script imports it
                pass
        self.template = make_globals(allowed)
        self.max_output_bytes = int(config["max_output_bytes"])
        self.hard_memory = int(config["memory_bytes"])
        self.memory = self.armed_memory = self.hard_memory  # the request's limit; the soft limit set
        self.cpu_deadline = resource.RLIM_INFINITY  # the soft CPU-time limit set

    def handle(self, body: bytes) -> tuple[bytes, bytes]:
        """The reply to the request ``body``: its frame head and payload."""
        rid = 0
        try:
            op, rid, time_limit_s, memory_bytes, js_memory, js_stack, size = REQUEST.unpack_from(body)
            if op == STATS:
                return _reply(STATS, rid, dump_json(self.cache.stats()))
            view = memoryview(body)
            source = view[REQUEST.size : REQUEST.size + size]
            params = load_json(view[REQUEST.size + size :])
            self._arm_limits(memory_bytes, time_limit_s)
            if op == JAVASCRIPT:
                limits = JavaScriptLimits(
                    time_limit_s=time_limit_s, memory_bytes=js_memory, stack_bytes=js_stack
                )
                try:
                    result = run_javascript(str(source, "utf-8", "surrogatepass"), params, limits)
                except JavaScriptError as exc:
                    return _error(rid, str(exc))
                return self._encode(rid, result)
            try:
                code = self.cache.get(source)
                result = run_main(code, self.template, params)
            except BaseException as exc:  # whatever the script raised, SystemExit included
                return _error(rid, describe(exc, self.memory))
            del params
            return self._encode(rid, result)
        except MemoryError:
            pass
        finally:
            if self.armed_memory != self.hard_memory:
                # Reading and decoding the next request is not the script's allocation.
                resource.setrlimit(resource.RLIMIT_AS, (self.hard_memory, self.hard_memory))
                self.armed_memory = self.hard_memory
        # Out of memory outside the script, or while reporting it; the soft limit is now back at the hard one,
        # which leaves room for the reply.
        return _error(rid, f"memory limit of {self.memory / 2**20:g} MB exceeded")

    def _encode(self, rid: int, result: Any) -> tuple[bytes, bytes]:
        try:
            payload = dump_json(result)
        except MemoryError:
            raise
        except BaseException as exc:  # TypeError, ValueError (circular), RecursionError, a script's method
            return _error(rid, f"result is not JSON-serializable: {exc}")
        if len(payload) > self.max_output_bytes:
            return _error(rid, f"output too large: {len(payload)} bytes (limit {self.max_output_bytes})")
        return _reply(OK, rid, payload)

    def _arm_limits(self, memory_bytes: int, time_limit_s: float) -> None:
        self.memory = min(memory_bytes, self.hard_memory)
        if self.memory != self.armed_memory:
            resource.setrlimit(resource.RLIMIT_AS, (self.memory, self.hard_memory))
            self.armed_memory = self.memory
        deadline = resource.RLIM_INFINITY
        if math.isfinite(time_limit_s) and time_limit_s >= 0:
            # The process's CPU time (user + system), which is what RLIMIT_CPU counts.
            deadline = math.ceil(time.process_time() + time_limit_s) + 2
        if deadline != self.cpu_deadline:
            _, hard = resource.getrlimit(resource.RLIMIT_CPU)
            if hard != resource.RLIM_INFINITY and (deadline == resource.RLIM_INFINITY or deadline > hard):
                deadline = hard
            resource.setrlimit(resource.RLIMIT_CPU, (deadline, hard))
            self.cpu_deadline = deadline


def _reply(kind: bytes, rid: int, payload: bytes) -> tuple[bytes, bytes]:
    return REPLY_FRAME.pack(REPLY.size + len(payload), kind, rid), payload


def _error(rid: int, message: str) -> tuple[bytes, bytes]:
    return _reply(ERROR, rid, message.encode("utf-8", "surrogatepass"))


def _write_frame(fd: int, head: bytes, payload: bytes) -> None:
    if len(payload) < 1 << 16:
        _write_all(fd, head + payload)  # one write for the usual small reply
    else:
        _write_all(fd, head)
        _write_all(fd, payload)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _take_protocol_fds() -> tuple[int, int]:
    in_fd, out_fd = os.dup(0), os.dup(1)
    _to_devnull(0, 1)
    return in_fd, out_fd


def _to_devnull(*fds: int) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in fds:
        os.dup2(null, fd)
    os.close(null)


def _drop_privileges(*, lazy_imports: bool) -> None:
    """As root (no bwrap, or bwrap without a user namespace), become nobody: then RLIMIT_NPROC applies
    (the kernel exempts root from it) and root-only files are out of reach. Not if allow-listed modules may
    import more of the installation later (``socket`` imports an encoding on first use, ``datetime`` its
    ``strptime``) and nobody could not read it, as when Python lives under /root."""
    if os.getuid() != 0:
        return
    if lazy_imports and not all(_readable_by_others(entry) for entry in sys.path if os.path.isdir(entry)):
        return
    try:
        os.setgroups([])
        os.setgid(_NOBODY)
        os.setuid(_NOBODY)
    except OSError:  # no CAP_SETUID (a user namespace's root): the other limits still apply
        pass


def _readable_by_others(directory: str) -> bool:
    path = os.path.realpath(directory)
    if os.stat(path).st_mode & (stat.S_IROTH | stat.S_IXOTH) != stat.S_IROTH | stat.S_IXOTH:
        return False
    while path != os.path.dirname(path):
        path = os.path.dirname(path)
        if not os.stat(path).st_mode & stat.S_IXOTH:
            return False
    return True


def _die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when its parent dies (Linux). Under bubblewrap, ``--die-with-parent`` does the
    same for the sandbox as a whole and the parent passes 0."""
    if sys.platform == "linux":
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if parent_pid and os.getppid() != parent_pid:
        os._exit(0)  # the parent died before the death signal was armed


def _lower_rlimits(memory_bytes: int) -> None:
    for limit, value in (
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_FSIZE, 0),  # no file writes (a sandbox has no way to open files anyway)
        (resource.RLIMIT_NOFILE, 32),  # room for an allow-listed import to read its source
        (resource.RLIMIT_NPROC, 0),  # no fork, no threads (the kernel exempts root: see _drop_privileges)
        (resource.RLIMIT_AS, memory_bytes),
    ):
        _, hard = resource.getrlimit(limit)
        new = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(limit, (new, new))  # lowering the hard limit too: for good


if __name__ == "__main__":
    main(sys.argv[1])
