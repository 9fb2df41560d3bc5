"""What both stores decide the same way about answering a wait: which wait an answer is for, and why one
is refused (the messages users see)."""

from __future__ import annotations

from collections.abc import Sequence

from flowloom.ir import Status, WaitError, WaitKeyRequired, WaitRow, WaitStatus


def not_waiting(run_id: str, status: Status) -> WaitError:
    if status is Status.PROCESSING:
        why = "it is running (another answer may have been taken first)"
    elif status.terminated:
        why = f"it has ended ({status})"
    else:
        why = f"it is {status}"
    return WaitError(f"run {run_id} is not waiting: {why}")


def chosen_wait(run_id: str, waits: Sequence[WaitRow], key: str | None) -> WaitRow:
    """The open wait of ``waits`` (a waiting run's) that an answer for ``key`` answers; ``WaitError`` (or
    ``WaitKeyRequired``) naming the open keys when there is none, or none that ``key`` picks."""
    open_waits = [wait for wait in waits if wait.status is WaitStatus.OPEN]
    keys = ", ".join(repr(wait.key) for wait in open_waits) or "none"
    if key is None:
        if len(open_waits) == 1:
            return open_waits[0]
        if not open_waits:
            raise WaitError(f"run {run_id} has no open wait")
        raise WaitKeyRequired(f"run {run_id} waits on several keys ({keys}): give the key to answer")
    for wait in waits:
        if wait.key == key:
            if wait.status is WaitStatus.OPEN:
                return wait
            raise WaitError(
                f"stale key {key!r}: that wait of run {run_id} was answered already (open: {keys})"
            )
    raise WaitError(f"run {run_id} has no wait with key {key!r} (open: {keys})")
