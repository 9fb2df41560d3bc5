"""The flows of an opened bundle by flow id (what a subflow node of a bundle's flow starts), an entry
flow's document carrying the subflows it reaches, and what a run started from a bundle records."""

from __future__ import annotations

from collections import deque
from typing import Any

from flowloom.formats.visualflow import reachable_subflows

from ._archive import WorkflowBundle
from ._errors import BundleError

RUN_METADATA_KEY = "bundle"
SUBFLOWS_KEY = "subflows"
"""Where a VisualFlow document carries the flows its subflow nodes start (flow id -> document): the
VisualFlow loader compiles them into the run's workflow."""


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

    def subflow(self, flow_id: str) -> dict[str, Any] | None:
        """``get``, as a ``SubflowSource`` (flow id -> document, None when absent) answers."""
        return self.get(flow_id)

    def with_subflows(self, flow_id: str) -> dict[str, Any]:
        """The document of ``flow_id`` carrying, under ``subflows``, every flow of the bundle its runs can
        reach through subflow nodes (through the subflows' own too; itself when it recurses). The run's
        workflow then holds them all: a resume in another process needs only the store. A subflow the bundle
        lacks is left out; the node that reaches it fails, naming it."""
        root = self.require(flow_id)
        library: dict[str, Any] = {}
        todo = deque(sub for _node, sub in reachable_subflows(root) if sub is not None)
        while todo:
            sub_id = todo.popleft()
            found = None if sub_id in library else self.get(sub_id)
            if found is None:
                continue
            library[sub_id] = {k: v for k, v in found.items() if k != SUBFLOWS_KEY}
            todo.extend(sub for _node, sub in reachable_subflows(found) if sub is not None)
        document = {k: v for k, v in root.items() if k != SUBFLOWS_KEY}
        if library:
            document[SUBFLOWS_KEY] = library
        return document

    def require(self, flow_id: str) -> dict[str, Any]:
        """The document of ``flow_id``; ``BundleError`` naming the bundle when it has none."""
        found = self.get(flow_id)
        if found is None:
            raise BundleError(f"bundle {self.bundle.manifest.ref} has no flow '{flow_id}'")
        return found


def bundle_run_metadata(bundle: WorkflowBundle, flow_id: str) -> dict[str, Any]:
    """What a host records with a run it starts from a bundle: ``{"bundle": {id, version, flow, source}}``
    (``source``: the bundle's absolute path)."""
    manifest = bundle.manifest
    return {
        RUN_METADATA_KEY: {
            "id": manifest.bundle_id,
            "version": manifest.bundle_version,
            "flow": flow_id,
            "source": str(bundle.source.resolve()),
        }
    }
