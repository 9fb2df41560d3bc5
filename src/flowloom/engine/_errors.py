"""Engine errors. Node failures carry upstream's exact message text in ``str(exc)``."""

from __future__ import annotations

from flowloom.ir import FlowloomError, InvalidWorkflowError

__all__ = [
    "BlockFailed",
    "BlockWaiting",
    "FlowloomError",
    "InvalidWorkflowError",
    "NodeError",
    "NodeTimeout",
    "message_of",
]


class NodeError(Exception):
    """A node failed; ``str(exc)`` is the message shown in reports (upstream's exact text)."""


class NodeTimeout(NodeError):
    """A node ran past its ``timeout_s``."""


class BlockFailed(NodeError):
    """A node inside a block (loop body) failed; the message is that node's error."""


class BlockWaiting(Exception):
    """A node inside a block (loop body) waits: the container node waits too, and runs again on resume
    (its block's succeeded nodes are restored). Executors that run blocks let it through."""


def message_of(exc: BaseException) -> str:
    """The text a report shows for an exception: its message, else its type name."""
    return str(exc) or type(exc).__name__
