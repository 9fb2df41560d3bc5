"""A stand-in for the ``flowloom`` command, for runners that take only a command line (the VisualFlow corpus's
``runner.py``): ``python -I -S _cli_client.py SOCKET FLOWLOOM [ARGS...]``. Standard library only, so it starts
in a few tens of milliseconds; it hands its argv, working directory and environment to the ``CliPool`` serving
``SOCKET`` (``_cli_pool.serve_socket``), prints what the call printed and exits with its code.

``runs resume`` is not handed over: the contract says a resume runs in another process than the run it
resumes, so it replaces itself with the real ``FLOWLOOM`` (a fresh interpreter), as do calls when the pool is
gone."""

from __future__ import annotations

import json
import os
import socket
import sys


def _real(flowloom: str, args: list[str]) -> None:
    os.execv(flowloom, [flowloom, *args])


def main(argv: list[str]) -> int:
    path, flowloom, args = argv[0], argv[1], argv[2:]
    if args[:2] == ["runs", "resume"]:
        _real(flowloom, args)
    request = {"args": args, "cwd": os.getcwd(), "env": dict(os.environ)}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(path)
            conn.sendall(json.dumps(request).encode() + b"\n")
            conn.shutdown(socket.SHUT_WR)
            reply = json.loads(conn.makefile("rb").read())
    except OSError:
        _real(flowloom, args)
    sys.stdout.buffer.write(reply["stdout"].encode("utf-8"))
    sys.stderr.buffer.write(reply["stderr"].encode("utf-8"))
    code: int = reply["exit_code"]
    return code if code >= 0 else 128 - code  # killed by a signal: as a shell reports it


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
