"""Where a workflow's subflows come from: a ``SubflowSource`` answers a flow id with its document. A
VisualFlow file's subflows are the ``<id>.json`` files next to it; a bundle's are the flows its manifest
lists; an application may hand the engine its own (``Services(subflows=...)``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class SubflowSource(Protocol):
    """Flow id → the flow's document (a JSON object), or ``None`` when this source has no such flow."""

    def subflow(self, flow_id: str) -> Mapping[str, Any] | None: ...
