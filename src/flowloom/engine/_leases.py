"""Who owns a recorded run, and whether that owner is still alive.

An engine with a store holds a lease on each run it executes, renewed while the run goes on. Owners are named
``host/pid/nonce``: a run whose lease expired, or whose owner was on this host and its process is gone, may be
taken over (resumed) by another engine; the store makes sure only one wins.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

DEFAULT_LEASE_TTL_S = 30.0


def new_owner() -> str:
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:12]}"


def owner_gone(owner: str) -> bool:
    """True if ``owner`` names a process on this host that no longer runs (or is a zombie). An owner on
    another host is never known to be gone: its lease has to expire."""
    host, _, rest = owner.partition("/")
    pid_text = rest.partition("/")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]
