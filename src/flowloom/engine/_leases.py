"""Who owns a recorded run, and whether that owner is still alive.

An engine with a store holds a lease on each run it executes, renewed while the run goes on. Owners are named
``host/pid/nonce``: a run whose lease expired, or whose owner was on this host and its process is gone, may be
taken over (resumed) by another engine; the store makes sure only one wins.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path

import anyio

from flowloom.ir import RunRow, RunStore, Status

from ._run import Run, RunOwnedError

DEFAULT_LEASE_TTL_S = 30.0
CANCEL_POLL_S = 1.0  # how often a recorded run looks for a cancel request made by another process


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


class Leases:
    """The leases one engine (``owner``) holds on the runs it executes, in ``store``."""

    def __init__(self, store: RunStore, owner: str, ttl_s: float) -> None:
        self.store = store
        self.owner = owner
        self.ttl_s = ttl_s

    async def take(self, row: RunRow) -> None:
        """Take ``row``'s run over: its lease expired, it has none, or its owner's process is gone.
        ``RunOwnedError`` naming the holder otherwise."""
        now = time.time()
        if await self.store.acquire_lease(row.id, self.owner, self.ttl_s, now):
            return
        current = await self.store.get_run(row.id)
        holder = current.owner if current is not None else None
        if (
            holder is not None
            and owner_gone(holder)
            and await self.store.take_over_lease(row.id, self.owner, holder, self.ttl_s, now)
        ):
            return
        expires = current.lease_expires_at if current is not None else None
        left = f"; its lease ends in {expires - now:.0f}s" if expires is not None else ""
        raise RunOwnedError(f"run {row.id} is being executed by {holder} (a live process{left})")

    async def keep(self, run: Run) -> None:
        """While ``run`` goes on: renew its lease, and stop it when another process asked (through the
        store) to cancel it or took the lease over. Runs until cancelled."""
        run_id = run.id
        renew_every = self.ttl_s / 3
        next_renewal = time.monotonic() + renew_every
        while True:
            await anyio.sleep(min(CANCEL_POLL_S, renew_every))
            row = await self.store.get_run(run_id)
            if row is not None and row.status is Status.CANCELED:
                run.cancel()
                return
            if time.monotonic() >= next_renewal:
                next_renewal = time.monotonic() + renew_every
                if not await self.store.renew_lease(run_id, self.owner, self.ttl_s, time.time()):
                    run.stop(f"run {run_id}: another engine took it over; stopped here")
                    return
