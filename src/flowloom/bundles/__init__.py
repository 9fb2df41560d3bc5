"""``.flow`` bundles: portable zips (or folders) of VisualFlow JSON with a manifest, packed from a root flow
and the subflows it reaches, opened as untrusted input, and installed in a registry folder that resolves
references such as ``id@version:flow``. Hosts run a bundle's entrypoint through an ``Engine`` like any
VisualFlow document; ``BundleFlows`` serves a bundle's flows by id to the subflow executor."""

from __future__ import annotations

from pathlib import Path

from ._archive import BundleLimits, WorkflowBundle, open_workflow_bundle, unpack_workflow_bundle
from ._errors import BundleError, BundleInstalledError, BundleNotFoundError, BundleRegistryError
from ._flows import BundleFlows, bundle_run_metadata
from ._manifest import BUNDLE_FORMAT_VERSION, BundleEntrypoint, BundleManifest, read_manifest
from ._pack import PackedWorkflowBundle, pack_workflow_bundle
from ._registry import (
    BUNDLES_DIR_ENV,
    EntrypointRef,
    InstalledBundle,
    WorkflowBundleRegistry,
    default_workflow_bundles_dir,
)

__all__ = [
    "BUNDLES_DIR_ENV",
    "BUNDLE_FORMAT_VERSION",
    "BundleEntrypoint",
    "BundleError",
    "BundleFlows",
    "BundleInstalledError",
    "BundleLimits",
    "BundleManifest",
    "BundleNotFoundError",
    "BundleRegistryError",
    "EntrypointRef",
    "InstalledBundle",
    "PackedWorkflowBundle",
    "WorkflowBundle",
    "WorkflowBundleRegistry",
    "bundle_run_metadata",
    "default_workflow_bundles_dir",
    "inspect_workflow_bundle",
    "open_workflow_bundle",
    "pack_workflow_bundle",
    "read_manifest",
    "unpack_workflow_bundle",
]


def inspect_workflow_bundle(bundle_path: str | Path, *, limits: BundleLimits | None = None) -> BundleManifest:
    """The checked manifest of a ``.flow`` zip or bundle folder (``BundleError`` if it is refused)."""
    if limits is None:
        return open_workflow_bundle(bundle_path).manifest
    return open_workflow_bundle(bundle_path, limits=limits).manifest
