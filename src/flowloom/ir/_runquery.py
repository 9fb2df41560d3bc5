"""Which runs to list: the filters of a runs page (statuses, workflow, time range, text) and a keyset cursor,
so a page deep in a long history costs what the first one does."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ._constants import Status


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCursor:
    """Where a page ends: the last run listed (runs are listed newest first by ``(created_at, id)``)."""

    created_at: float
    id: str

    def to_text(self) -> str:
        """``<created_at>_<id>``: a float's repr round-trips exactly, and has no ``_``."""
        return f"{self.created_at!r}_{self.id}"

    @classmethod
    def from_text(cls, text: str) -> RunCursor:
        """Read ``to_text``'s form; ``ValueError`` saying what was expected."""
        at, sep, run_id = text.partition("_")
        try:
            created_at = float(at)
        except ValueError:
            created_at = float("nan")
        if not sep or not run_id or created_at != created_at:
            raise ValueError(f"a cursor is '<created_at>_<run id>' as the runs API returns it, got {text!r}")
        return cls(created_at=created_at, id=run_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunQuery:
    """Runs that match every given filter; ``before`` lists only runs older than a cursor."""

    statuses: tuple[Status, ...] = ()
    """Any of these statuses (``()``: any status)."""
    workflow_hash: str | None = None
    """Runs of this workflow (its content hash)."""
    created_from: float | None = None
    """Created at or after this time."""
    created_to: float | None = None
    """Created before this time."""
    text: str | None = None
    """A substring of the run's id or of its inputs' JSON (case-sensitive)."""
    before: RunCursor | None = None
    """Only runs listed after this cursor (older)."""

    def without_statuses(self) -> RunQuery:
        """The same filters for any status and from the newest run: what status counts are taken over."""
        return replace(self, statuses=(), before=None)
