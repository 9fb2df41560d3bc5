"""The flows of an opened bundle by flow id (what a subflow node of a bundle's flow starts), and the run
metadata through which any process finds the bundle a run was started from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._archive import WorkflowBundle, open_workflow_bundle
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


RUN_METADATA_KEY = "bundle"


def bundle_run_metadata(bundle: WorkflowBundle, flow_id: str) -> dict[str, Any]:
    """What a host records with a run it starts from a bundle: ``{"bundle": {id, version, flow, source}}``
    (``source``: the bundle's absolute path, from which ``flows_of_run`` reopens it in any process)."""
    manifest = bundle.manifest
    return {
        RUN_METADATA_KEY: {
            "id": manifest.bundle_id,
            "version": manifest.bundle_version,
            "flow": flow_id,
            "source": str(bundle.source.resolve()),
        }
    }


def flows_of_run(metadata: Mapping[str, Any] | None) -> BundleFlows | None:
    """The flows of the bundle a run was started from (``bundle_run_metadata``), reopened and checked; None
    when the run was not started from a bundle. ``BundleError`` when the bundle is gone or changed to
    another id or version since."""
    recorded = (metadata or {}).get(RUN_METADATA_KEY)
    if not isinstance(recorded, Mapping) or not isinstance(recorded.get("source"), str):
        return None
    bundle = open_workflow_bundle(recorded["source"])
    manifest = bundle.manifest
    if (manifest.bundle_id, manifest.bundle_version) != (recorded.get("id"), recorded.get("version")):
        raise BundleError(
            f"the run's bundle {recorded.get('id')}@{recorded.get('version')} is no longer at "
            f"{recorded['source']} (found {manifest.ref})"
        )
    return BundleFlows(bundle)
