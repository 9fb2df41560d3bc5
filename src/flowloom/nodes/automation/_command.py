"""A command run to its end in one blocking call: how ``shell.exec`` runs when the engine's workers are
elsewhere (a Dask cluster), where it cannot stream to this process's event loop. The rules are the loop's:
its own process group, stdin closed unless given, the whole group killed at the timeout and on the way out.
The function and what it returns are pickled to and from the worker, so both are plain."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping
from typing import NamedTuple


class Finished(NamedTuple):
    """How a command ended: ``code`` (``None``: killed at its timeout), its output, or why it never ran."""

    code: int | None
    stdout: bytes = b""
    stderr: bytes = b""
    spawn_error: str | None = None


def run_command(
    argv: list[str], env: Mapping[str, str], workdir: str | None, stdin: bytes, timeout: float | None
) -> Finished:
    """Run ``argv`` with this machine's environment plus ``env``; see the module's docstring."""
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=workdir,
            env={**os.environ, **env},
            start_new_session=True,  # its own process group, killed as a whole
        )
    except OSError as exc:
        return Finished(None, spawn_error=f"{exc.strerror or exc} (os error {exc.errno})")
    try:
        try:
            stdout, stderr = process.communicate(stdin or None, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid)
            stdout, stderr = process.communicate()
            return Finished(None, stdout, stderr)
        return Finished(process.returncode, stdout, stderr)
    finally:
        _kill_group(process.pid)  # what the command left running in its group
        process.wait()


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
