"""Node executors: one module per node type, gathered by ``NodeRegistry.default()``."""

from __future__ import annotations

from ._registry import ENTRY_POINT_GROUP, NodeRegistry

__all__ = ["ENTRY_POINT_GROUP", "NodeRegistry"]
