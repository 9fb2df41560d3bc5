"""Errors about workflow sources, shared by every front door."""

from __future__ import annotations


class FlowloomError(Exception):
    """Base of errors flowloom raises to its callers."""


class InvalidWorkflowError(FlowloomError, ValueError):
    """A workflow source that cannot be read or does not validate. ``errors`` lists every problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class SandboxError(FlowloomError):
    """User code failed inside a sandbox (an exception, a time or memory limit, a forbidden operation).
    The message says what went wrong, for the node's error."""
