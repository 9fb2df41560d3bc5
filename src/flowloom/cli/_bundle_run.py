"""What ``flowloom run TARGET`` runs when TARGET is a bundle: a ``.flow`` zip or a folder with
``manifest.json`` (its default entrypoint), or a reference to an installed entrypoint (``id[@ver][:flow]``,
an installed ``.flow`` file name, an entrypoint name) resolved in ``--bundles-dir``."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from flowloom.bundles import (
    BundleError,
    BundleFlows,
    WorkflowBundle,
    WorkflowBundleRegistry,
    bundle_run_metadata,
    open_workflow_bundle,
)

BundlesDirOption = Annotated[
    Path | None,
    typer.Option(
        "--bundles-dir",
        envvar="FLOWLOOM_BUNDLES_DIR",
        help="The registry of installed bundles that a reference (id[@version][:flow]) is resolved in "
        "[default: bundles in your data directory]",
        show_default=False,
    ),
]


@dataclass(frozen=True, slots=True)
class BundleTarget:
    """One entrypoint of one opened bundle."""

    bundle: WorkflowBundle
    flow_id: str

    @property
    def label(self) -> str:
        """How messages name what runs: ``id@version:flow``."""
        return f"{self.bundle.manifest.ref}:{self.flow_id}"

    def document(self) -> dict[str, Any]:
        """The entrypoint's VisualFlow (``BundleError`` naming the file when the bundle lacks it)."""
        return self.bundle.flow(self.flow_id)

    def flows(self) -> BundleFlows:
        """The bundle's flows by id, for the subflow executor."""
        return BundleFlows(self.bundle)

    def metadata(self) -> dict[str, Any]:
        """Recorded with the run: which bundle, version and flow it ran, and from where."""
        return bundle_run_metadata(self.bundle, self.flow_id)


def bundle_target(target: Path, bundles_dir: Path | None) -> BundleTarget | None:
    """The bundle entrypoint ``target`` names, or None when it is a workflow file (or a path that does not
    exist, which the file reader reports). ``BundleError`` when the bundle or the reference is refused."""
    if target.is_dir():
        if not (target / "manifest.json").is_file():
            return None
        return _default_of(open_workflow_bundle(target))
    if target.is_file():
        if target.suffix.lower() != ".flow" and not zipfile.is_zipfile(target):
            return None
        return _default_of(open_workflow_bundle(target))
    text = str(target)
    if target.suffix.lower() == ".json" or "/" in text or "\\" in text:
        return None
    registry = WorkflowBundleRegistry(bundles_dir)
    try:
        found = registry.resolve_entrypoint(text)
    except BundleError as exc:
        raise BundleError(f"{exc} (and there is no file {text})") from exc
    return BundleTarget(found.open(), found.flow_id)


def _default_of(bundle: WorkflowBundle) -> BundleTarget:
    return BundleTarget(bundle, bundle.manifest.entrypoint().flow_id)
