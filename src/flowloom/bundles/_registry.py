"""The bundle registry: a folder of installed bundles, one ``<id>@<version>.flow`` file each, and how a
reference names one of their entrypoints (``id``, ``id@ver``, ``id:flow``, ``id@ver:flow``, an installed
``.flow`` file name, or an entrypoint's name)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from ._archive import DEFAULT_LIMITS, BundleLimits, WorkflowBundle, open_workflow_bundle
from ._errors import BundleError, BundleInstalledError, BundleNotFoundError, BundleRegistryError
from ._manifest import BundleEntrypoint, BundleManifest

logger = logging.getLogger("flowloom.bundles")

BUNDLES_DIR_ENV = "FLOWLOOM_BUNDLES_DIR"
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_-]+")
_UNSAFE_VERSION = re.compile(r"[^A-Za-z0-9_.-]+")
_NUMERIC_DOTTED = re.compile(r"\d+(\.\d+)*")
_DRIVE = re.compile(r"[A-Za-z]:[\\/]")


def default_workflow_bundles_dir() -> Path:
    """Where bundles are installed unless told otherwise: ``$FLOWLOOM_BUNDLES_DIR``, else ``bundles`` in
    flowloom's per-user data directory (XDG on Linux)."""
    configured = os.environ.get(BUNDLES_DIR_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    if sys.platform == "win32":
        data = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        data = Path.home() / "Library" / "Application Support"
    else:
        data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data / "flowloom" / "bundles"


@dataclass(frozen=True, slots=True)
class InstalledBundle:
    """A bundle of the registry: its file and manifest."""

    path: Path
    manifest: BundleManifest

    @property
    def bundle_id(self) -> str:
        return self.manifest.bundle_id

    @property
    def bundle_version(self) -> str:
        return self.manifest.bundle_version

    @property
    def ref(self) -> str:
        return self.manifest.ref

    def to_json(self) -> dict[str, object]:
        return {
            "bundle_id": self.bundle_id,
            "bundle_version": self.bundle_version,
            "default_entrypoint": self.manifest.default_entrypoint,
            "created_at": self.manifest.created_at,
            "entrypoints": [entry.to_json() for entry in self.manifest.entrypoints],
            "file": self.path.name,
        }


@dataclass(frozen=True, slots=True)
class EntrypointRef:
    """An entrypoint of an installed bundle, as a reference resolved to it."""

    bundle: InstalledBundle
    entrypoint: BundleEntrypoint

    @property
    def flow_id(self) -> str:
        return self.entrypoint.flow_id

    @property
    def bundle_id(self) -> str:
        return self.bundle.bundle_id

    @property
    def bundle_version(self) -> str:
        return self.bundle.bundle_version

    @property
    def bundle_ref(self) -> str:
        """``id@version``."""
        return self.bundle.ref

    @property
    def name(self) -> str:
        return self.entrypoint.name or self.flow_id

    @property
    def interfaces(self) -> tuple[str, ...]:
        return self.entrypoint.interfaces

    @property
    def workflow_id(self) -> str:
        """``id@version:flow``: the reference that names exactly this entrypoint."""
        return f"{self.bundle.ref}:{self.flow_id}"

    @property
    def is_default(self) -> bool:
        return self.bundle.manifest.default_entrypoint == self.flow_id

    def open(self) -> WorkflowBundle:
        return open_workflow_bundle(self.bundle.path)

    def to_json(self) -> dict[str, object]:
        return {
            "bundle_id": self.bundle.bundle_id,
            "bundle_version": self.bundle.bundle_version,
            "workflow_id": self.workflow_id,
            "is_default": self.is_default,
            **self.entrypoint.to_json(),
        }


class WorkflowBundleRegistry:
    """Installed bundles in ``bundles_dir`` (default ``default_workflow_bundles_dir()``). Every bundle is
    opened and checked when installed (unsafe members, sizes, manifest); ids must match ``[A-Za-z0-9_-]+``
    and versions ``[A-Za-z0-9_.-]+``; an installed version is not replaced unless ``overwrite``."""

    def __init__(
        self, bundles_dir: str | Path | None = None, *, limits: BundleLimits = DEFAULT_LIMITS
    ) -> None:
        self.bundles_dir = (
            Path(bundles_dir).expanduser() if bundles_dir is not None else default_workflow_bundles_dir()
        )
        self.limits = limits

    # installing and removing ----------------------------------------------------------------------------

    def install(self, source: str | Path, *, overwrite: bool = False) -> InstalledBundle:
        """Copy the ``.flow`` file ``source`` into the registry, checked first."""
        path = Path(source).expanduser()
        if path.is_dir():
            raise BundleRegistryError(f"{path} is a bundle folder: pack it into a .flow file to install it")
        open_workflow_bundle(path, limits=self.limits)  # refused here, with messages naming the file
        with self._staged(path) as staged:
            # what is placed is the copy, checked again: the source may change meanwhile
            bundle = open_workflow_bundle(staged, limits=self.limits, label=path.name)
            return self._place(staged, bundle.manifest, overwrite)

    def install_bytes(
        self, content: bytes, *, overwrite: bool = False, filename_hint: str = "upload"
    ) -> InstalledBundle:
        """Install a ``.flow`` file's content (an upload), checked first; ``filename_hint`` names it in
        messages."""
        if not content:
            raise BundleRegistryError(f"{filename_hint}: the bundle is empty (expected a .flow zip)")
        with self._staged(content) as staged:
            bundle = open_workflow_bundle(staged, limits=self.limits, label=filename_hint)
            return self._place(staged, bundle.manifest, overwrite)

    def remove(self, ref: str) -> int:
        """Remove ``id@version``, or every version of ``id``; how many were removed (0: none installed)."""
        bundle_id, version = _split_bundle_ref(ref)
        removed = 0
        for installed in self.versions(bundle_id).values():
            if version is None or installed.bundle_version == version:
                installed.path.unlink(missing_ok=True)
                removed += 1
        return removed

    @contextmanager
    def _staged(self, content: bytes | Path) -> Iterator[Path]:
        """``content`` (or a copy of the file) in a temporary file inside the registry folder, so that
        placing it is a link or a rename; the temporary file is removed in any case."""
        self.bundles_dir.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=".upload-", suffix=".part", dir=self.bundles_dir)
        staged = Path(name)
        try:
            with os.fdopen(handle, "wb") as out:
                if isinstance(content, Path):
                    with content.open("rb") as source:
                        shutil.copyfileobj(source, out)
                else:
                    out.write(content)
            yield staged
        finally:
            staged.unlink(missing_ok=True)

    def _place(self, staged: Path, manifest: BundleManifest, overwrite: bool) -> InstalledBundle:
        bundle_id, version = manifest.bundle_id, manifest.bundle_version
        safe_id = _UNSAFE_ID.sub("-", bundle_id).strip("-")
        if safe_id != bundle_id:
            raise BundleRegistryError(
                f"Bundle id '{bundle_id}' contains unsafe characters (allowed: A-Z a-z 0-9 _ -); "
                f"publish it with a safe bundle_id, e.g. '{safe_id}'"
            )
        safe_version = _UNSAFE_VERSION.sub("-", version).strip("-")
        if safe_version != version:
            raise BundleRegistryError(
                f"Bundle version '{version}' contains unsafe characters (allowed: A-Z a-z 0-9 _ . -); "
                f"publish it with a safe bundle_version, e.g. '{safe_version}'"
            )
        target = self.bundles_dir / f"{bundle_id}@{version}.flow"
        if target.exists() and not overwrite:
            raise BundleInstalledError(f"bundle {manifest.ref} is already installed ({target})")
        if overwrite:
            os.replace(staged, target)
        else:
            try:  # a link fails when another install placed the same version in the meantime
                os.link(staged, target)
            except FileExistsError:
                raise BundleInstalledError(f"bundle {manifest.ref} is already installed ({target})") from None
            except OSError:  # a file system without hard links
                shutil.copyfile(staged, target)
        return InstalledBundle(target, manifest)

    # reading ----------------------------------------------------------------------------------------------

    def scan(self) -> list[InstalledBundle]:
        """Every installed bundle, by id then version. A file that no longer opens is left out (and
        logged)."""
        if not self.bundles_dir.is_dir():
            return []
        found = []
        for path in sorted(self.bundles_dir.glob("*.flow")):
            try:
                found.append(InstalledBundle(path, open_workflow_bundle(path, limits=self.limits).manifest))
            except BundleError as exc:
                logger.warning("skipping installed bundle %s: %s", path, exc)
        return sorted(found, key=lambda b: (b.bundle_id, b.bundle_version))

    def versions(self, bundle_id: str) -> dict[str, InstalledBundle]:
        """The installed versions of ``bundle_id``, by version."""
        return {b.bundle_version: b for b in self.scan() if b.bundle_id == bundle_id}

    def latest(self, bundle_id: str) -> InstalledBundle | None:
        """The latest installed version of ``bundle_id``: the highest when every version is numeric dotted
        (``1.10.0`` > ``1.9``; ``1.2`` = ``1.2.0``), else the one created last."""
        installed = list(self.versions(bundle_id).values())
        return latest_of(installed) if installed else None

    def resolve_bundle(self, ref: str) -> InstalledBundle:
        """``id`` (its latest version) or ``id@version`` (an ``.flow`` suffix is allowed)."""
        bundle_id, version = _split_bundle_ref(ref)
        if not bundle_id:
            raise BundleRegistryError(f"bundle reference {ref!r} must be 'bundle_id' or 'bundle_id@version'")
        versions = self.versions(bundle_id)
        if not versions:
            raise BundleNotFoundError(f"bundle '{bundle_id}' not found in {self.bundles_dir}")
        if version is None:
            return latest_of(list(versions.values()))
        if version not in versions:
            listed = ", ".join(sorted(versions))
            raise BundleNotFoundError(
                f"bundle '{bundle_id}@{version}' not found (installed versions: {listed})"
            )
        return versions[version]

    def resolve_entrypoint(self, ref: str, *, interface: str | None = None) -> EntrypointRef:
        """``id``/``id@ver`` (the default entrypoint, else the first), ``id:flow``, ``id@ver:flow``, an
        installed ``.flow`` file name, or the name of an entrypoint (case-insensitive; among the latest
        version of each bundle, and only if one bundle has it). ``interface``: the entrypoint must declare
        it."""
        found = self._resolve(ref)
        if interface is not None and interface not in found.interfaces:
            raise BundleRegistryError(
                f"entrypoint {found.workflow_id} does not implement interface '{interface}'"
            )
        return found

    def _resolve(self, ref: str) -> EntrypointRef:
        text = ref.strip()
        if not text:
            raise BundleRegistryError("a workflow reference is required (bundle_id[@version][:flow_id])")
        flow_id: str | None = None
        if ":" in text and not _DRIVE.match(text):
            left, right = (part.strip() for part in text.split(":", 1))
            if left and right:
                text, flow_id = left, right
        bundle_id, _version = _split_bundle_ref(text)
        if self.versions(bundle_id):
            bundle = self.resolve_bundle(text)
            return EntrypointRef(bundle, bundle.manifest.entrypoint(flow_id))
        if flow_id is None:
            by_name = self._by_name(text)
            if by_name is not None:
                return by_name
        raise BundleNotFoundError(f"workflow '{ref.strip()}' not found in {self.bundles_dir}")

    def _by_name(self, name: str) -> EntrypointRef | None:
        needle = name.casefold()
        matches = [
            EntrypointRef(bundle, entry)
            for bundle in self._latest_each()
            for entry in bundle.manifest.entrypoints
            if entry.name is not None and entry.name.casefold() == needle
        ]
        if len({m.bundle.ref for m in matches}) > 1:
            refs = ", ".join(sorted({m.bundle.ref for m in matches}))
            raise BundleRegistryError(
                f"workflow name '{name}' matches multiple bundles ({refs}): use bundle_id[@version][:flow_id]"
            )
        return matches[0] if matches else None

    def _latest_each(self) -> list[InstalledBundle]:
        by_id: dict[str, list[InstalledBundle]] = {}
        for bundle in self.scan():
            by_id.setdefault(bundle.bundle_id, []).append(bundle)
        return [latest_of(versions) for _, versions in sorted(by_id.items())]

    def list_entrypoints(
        self, *, interface: str | None = None, latest_only: bool = True
    ) -> list[EntrypointRef]:
        """The entrypoints of the installed bundles (of their latest versions only, unless told; those
        that declare ``interface`` only, if given), by bundle id, version, then entrypoint order."""
        bundles = self._latest_each() if latest_only else self.scan()
        return [
            EntrypointRef(bundle, entry)
            for bundle in bundles
            for entry in bundle.manifest.entrypoints
            if interface is None or interface in entry.interfaces
        ]


def latest_of(bundles: list[InstalledBundle]) -> InstalledBundle:
    """The latest of some versions of one bundle (see ``WorkflowBundleRegistry.latest``)."""
    if all(_NUMERIC_DOTTED.fullmatch(b.bundle_version) for b in bundles):
        return max(bundles, key=lambda b: Version(b.bundle_version))
    return max(bundles, key=lambda b: (_created(b.manifest.created_at), b.bundle_version))


def _created(text: str) -> dt.datetime:
    """A manifest's ``created_at`` as an aware time; one that does not parse sorts first."""
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return dt.datetime.min.replace(tzinfo=dt.UTC)
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def _split_bundle_ref(ref: str) -> tuple[str, str | None]:
    """``id[@version]`` (a trailing ``.flow``, as in an installed file's name, is dropped)."""
    text = ref.strip()
    if text.lower().endswith(".flow") and "/" not in text and "\\" not in text:
        text = text[: -len(".flow")]
    bundle_id, _, version = text.partition("@")
    return bundle_id.strip(), version.strip() or None
