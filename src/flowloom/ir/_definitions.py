"""Workflows saved under an id: what flowengine's ``/api/workflows`` creates and lists, and what triggers
start. A saved workflow is its document as given (any format), not a run's content-addressed copy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowDefinition:
    """A workflow document saved under ``id``; ``format`` names the ``WorkflowFormat`` that reads it
    (``None``: detected from the document). Saving under an existing id replaces it (``created_at`` kept)."""

    id: str
    name: str
    document: Any  # a JSON value
    format: str | None = None
    created_at: float
    updated_at: float
