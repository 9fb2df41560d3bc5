"""A small pool of long-lived worker processes that run a console-script entry point in-process, one call
after another, so a corpus of hundreds of CLI calls pays Python's start-up and ``import flowloom`` once per
worker instead of once per call.

Each call gets what a fresh ``flowloom`` process would get: its argv (``sys.argv``), its working directory
(``os.chdir``), exactly its environment (``os.environ`` replaced, then restored), stdin at ``/dev/null``, and
its stdout/stderr captured at the file-descriptor level (so a child process a node starts writes to the same
capture, as it would under ``subprocess``); the exit code comes from ``SystemExit``. The CLI makes its own
engine and store per call, as it does in a fresh process. Between calls the worker puts back the signal
handlers of SIGINT/SIGTERM and the root logger's handlers and level.

**What must stay a real process** (the caller decides; this pool cannot do it): a call that is sent a signal
(SIGINT/SIGTERM cancel cases), a call whose stdout must be read *as it is written* (``--jsonl`` streaming
measured by arrival time: the pool hands the output back only when the call returns), a call whose wall time
is part of its contract (in-process it is shorter, and its threads share the worker with nothing else but
still differ from a process), and anything that relies on a fresh interpreter (module-level state set from
the environment at import time). A call that hangs past its timeout gets its worker killed (exit code -9,
like ``Popen.kill``); the next call starts a fresh worker.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import os
import queue
import shutil
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

KILLED = -signal.SIGKILL


@dataclass
class Completed:
    exit_code: int
    stdout: str
    stderr: str


class _Worker:
    def __init__(self, entry: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, entry],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env=env,
        )

    def call(self, request: dict[str, Any], timeout_s: float) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        watchdog = threading.Timer(timeout_s, self.process.kill)  # a hung call fails, not the suite
        watchdog.start()
        try:
            reply = self.process.stdout.readline()
        finally:
            watchdog.cancel()
        if not reply:  # killed by the watchdog, or died
            self.close()
            return KILLED
        return int(json.loads(reply)["exit_code"])

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                try:
                    stream.close()
                except BrokenPipeError:  # the worker is dead: nothing left to flush into it
                    pass


class CliPool:
    """``workers`` processes, each calling ``entry`` (``"module:function"``) for one call at a time;
    ``run`` is thread-safe and blocks until a worker is free."""

    def __init__(self, entry: str, workers: int = 2, env: dict[str, str] | None = None) -> None:
        self.entry = entry
        self.env = dict(os.environ if env is None else env)
        self.captures = Path(tempfile.mkdtemp(prefix="cli-pool-"))
        self._idle: queue.Queue[_Worker | None] = queue.Queue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._counter = 0
        for _ in range(workers):
            self._idle.put(None)  # started on first use

    def run(
        self,
        args: list[str],
        *,
        cwd: Path | str,
        env: dict[str, str],
        timeout_s: float,
        argv0: str = "flowloom",
    ) -> Completed:
        with self._lock:
            self._counter += 1
            stem = self.captures / f"call-{self._counter}"
        out, err = Path(f"{stem}.out"), Path(f"{stem}.err")
        request = {
            "argv": [argv0, *args],
            "cwd": str(cwd),
            "env": env,
            "stdout": str(out),
            "stderr": str(err),
        }
        worker = self._idle.get()
        try:
            if worker is None or not worker.alive:
                worker = self._start()
            code = worker.call(request, timeout_s)
            if code == KILLED:
                worker = None
        finally:
            self._idle.put(worker)
        return Completed(code, _read(out), _read(err))

    def _start(self) -> _Worker:
        worker = _Worker(self.entry, self.env)
        with self._lock:
            self._all.append(worker)
        return worker

    def close(self) -> None:
        for worker in self._all:
            worker.close()
        shutil.rmtree(self.captures, ignore_errors=True)

    def __enter__(self) -> CliPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def serve_socket(pool: CliPool, timeout_s: float) -> Iterator[Path]:
    """Serve ``pool`` on a Unix socket for ``_cli_client.py`` (one JSON request, one JSON reply per
    connection); yields the socket's path."""

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            request = json.loads(self.rfile.read())
            done = pool.run(request["args"], cwd=request["cwd"], env=request["env"], timeout_s=timeout_s)
            self.wfile.write(json.dumps(asdict(done)).encode())

    path = Path(tempfile.mkdtemp(prefix="cli-pool-socket-")) / "pool.sock"
    with socketserver.ThreadingUnixStreamServer(str(path), Handler) as server:
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield path
        finally:
            server.shutdown()
            thread.join()


def client_command(path: Path, flowloom: str) -> list[str]:
    """The command line of ``_cli_client.py`` handing calls to the pool served at ``path``."""
    client = Path(__file__).with_name("_cli_client.py")
    return [sys.executable, "-I", "-S", str(client), str(path), flowloom]


def _read(path: Path) -> str:
    # as `subprocess.run(..., text=True, encoding="utf-8")` reads a pipe
    text = path.read_bytes().decode("utf-8") if path.exists() else ""
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- the worker side -----------------------------------------------------------------------------------


def _resolve(entry: str) -> Callable[[], object]:
    module, _, function = entry.partition(":")
    target: Callable[[], object] = getattr(importlib.import_module(module), function)
    return target


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    sys.stderr.write(f"{exc.code}\n")  # as the interpreter does for `sys.exit("message")`
    return 1


def _redirected(fd: int) -> TextIO:
    return io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), encoding="utf-8", line_buffering=True)


def _call(entry: Callable[[], object], request: dict[str, Any]) -> int:
    saved_env, saved_cwd, saved_argv = dict(os.environ), os.getcwd(), sys.argv
    saved_signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_streams = sys.stdout, sys.stderr
    saved_fds = os.dup(1), os.dup(2)
    with open(request["stdout"], "wb") as out, open(request["stderr"], "wb") as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        sys.stdout, sys.stderr = _redirected(1), _redirected(2)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = list(request["argv"])
        try:
            entry()
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc)
        except BaseException:  # as an uncaught exception ends a process
            traceback.print_exc()
            code = 1
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            sys.stdout, sys.stderr = saved_streams
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)
            sys.argv = saved_argv
            for signum, handler in saved_signals.items():
                signal.signal(signum, handler)
            root.handlers[:] = saved_handlers
            root.setLevel(saved_level)
            for fd, saved in zip((1, 2), saved_fds, strict=True):
                os.dup2(saved, fd)
                os.close(saved)
    return code


def _serve(entry_name: str) -> None:
    # The control channel is the pipes the pool gave as stdin/stdout; the calls get /dev/null and files.
    control_in = os.fdopen(os.dup(0), "r", encoding="utf-8")
    control_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)  # between calls; the pool's stderr stays for the worker's own troubles
    os.close(null)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # the calls' stdin
    entry = _resolve(entry_name)
    for line in control_in:
        code = _call(entry, json.loads(line))
        control_out.write(json.dumps({"exit_code": code}) + "\n")
        control_out.flush()


if __name__ == "__main__":
    _serve(sys.argv[1])
