"""Durable waits: what a node waiting for the outside world asks (``Wait``), how the store keeps it
(``WaitRow``), and the errors of answering one.

A node's executor returns a ``Wait`` instead of a result; the node's status becomes ``waiting`` and, once
nothing else in the run can progress, so does the run's. ``Engine.resume(run_id, payload=..., key=...)``
answers the wait (in any process sharing the store) and the node runs again with the payload as its
answer. A wait with ``until`` is answered by itself (with ``TIMED_OUT_PAYLOAD``) once it is due, by any
engine that checks due waits (``flowloom serve`` does, every ``DUE_CHECK_S``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

from ._errors import FlowloomError

Json: TypeAlias = Any

TIMED_OUT_PAYLOAD: dict[str, Json] = {"timedOut": True}
"""The payload a timed wait is answered with when it is due (the ``wait`` node's outputs then)."""

DUE_CHECK_S = 0.5
"""How often ``flowloom serve`` looks for due timed waits."""


class WaitReason(StrEnum):
    """Why a node waits (``Wait.reason`` may also be any other text)."""

    INPUT = "input"  # an answer from a person or a system
    TIME = "time"  # only a time: the wait is due at ``until``


class WaitStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"


@dataclass(frozen=True, slots=True, kw_only=True)
class Wait:
    """What a waiting node asks for. ``key`` names the wait within its run (default: the node id, with the
    loop iteration as ``node[2/0]``); an answer must give it when several waits are open. ``until`` (seconds
    since the epoch) makes the wait answer itself then. ``choices`` and ``details`` are for whoever answers
    (JSON)."""

    key: str | None = None
    reason: str = WaitReason.INPUT
    prompt: str | None = None
    choices: list[Json] | None = None
    until: float | None = None
    details: dict[str, Json] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitRow:
    """A wait of a run as the store keeps it: open until it is answered (once) with ``payload``."""

    run_id: str
    key: str
    node_id: str
    scope: tuple[int, ...] = ()
    reason: str = WaitReason.INPUT
    prompt: str | None = None
    choices: list[Json] | None = None
    until: float | None = None
    details: dict[str, Json] = field(default_factory=dict)
    created_at: float
    status: WaitStatus = WaitStatus.OPEN
    payload: Json = None
    answered_at: float | None = None

    def to_json(self) -> dict[str, Json]:
        """The wait as the CLI and the server show it."""
        return {
            "key": self.key,
            "node_id": self.node_id,
            "scope": list(self.scope),
            "reason": self.reason,
            "prompt": self.prompt,
            "choices": self.choices,
            "until": self.until,
            "details": self.details,
            "status": str(self.status),
        }


class WaitError(FlowloomError):
    """An answer to a run's wait was refused: the run is not waiting (another answer won, it ended, it is
    running), or the key is not that of an open wait (stale, or unknown). Nothing was changed."""


class WaitKeyRequired(WaitError):
    """The run waits on several keys: an answer must say which one it answers."""


class RunWaitingError(FlowloomError):
    """``flowloom.run`` of a run that is waiting (see ``Wait``): answer it with ``Engine.resume(run_id,
    payload=...)``. ``waits`` are its open waits."""

    def __init__(self, run_id: str, waits: list[WaitRow]) -> None:
        keys = ", ".join(repr(wait.key) for wait in waits) or "none recorded"
        super().__init__(
            f"run {run_id} is waiting (keys: {keys}): answer it with resume(run_id, payload=...)"
        )
        self.run_id = run_id
        self.waits = waits
