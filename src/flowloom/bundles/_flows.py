"""The flows of an opened bundle by flow id: what a subflow node of a bundle's flow starts."""

from __future__ import annotations

from typing import Any

from ._archive import WorkflowBundle
from ._errors import BundleError


class BundleFlows:
    """A read-only resolver from flow id to VisualFlow document over one bundle (the manifest's
    ``flows``). Each flow is read and parsed once. ``get`` answers None for a flow the bundle does not
    list; a listed flow whose file is missing or broken raises ``BundleError`` naming it."""

    def __init__(self, bundle: WorkflowBundle) -> None:
        self.bundle = bundle
        self._read: dict[str, dict[str, Any]] = {}

    @property
    def flow_ids(self) -> list[str]:
        """The flow ids the bundle lists, sorted."""
        return sorted(self.bundle.manifest.flows)

    def __contains__(self, flow_id: object) -> bool:
        return isinstance(flow_id, str) and flow_id in self.bundle.manifest.flows

    def get(self, flow_id: str) -> dict[str, Any] | None:
        """The document of ``flow_id``, or None when the bundle has no such flow."""
        if flow_id not in self:
            return None
        found = self._read.get(flow_id)
        if found is None:
            found = self._read[flow_id] = self.bundle.flow(flow_id)
        return found

    def require(self, flow_id: str) -> dict[str, Any]:
        """The document of ``flow_id``; ``BundleError`` naming the bundle when it has none."""
        found = self.get(flow_id)
        if found is None:
            raise BundleError(f"bundle {self.bundle.manifest.ref} has no flow '{flow_id}'")
        return found
