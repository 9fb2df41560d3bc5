"""Opening a bundle, a ``.flow`` zip or a folder holding ``manifest.json``, as untrusted input: every zip
member name is checked (absolute, ``..``, a drive letter, a symlink: the whole bundle is refused), sizes are
held to ``BundleLimits`` (a zip bomb is refused from its central directory, and again while reading, since
headers can lie), and a folder bundle never reads outside its folder."""

from __future__ import annotations

import json
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import BundleError
from ._manifest import MANIFEST, BundleManifest, read_manifest, unsafe_path_reason

_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleLimits:
    """How big a bundle may be; past any limit it is refused as a whole."""

    max_members: int = 10_000
    """Entries in the zip."""
    max_member_bytes: int = 64 * _MIB
    """Uncompressed size of one member."""
    max_total_bytes: int = 256 * _MIB
    """Uncompressed size of all members together."""
    max_ratio: float = 200.0
    """Uncompressed size over compressed size of a member, for members past ``ratio_floor_bytes``."""
    ratio_floor_bytes: int = _MIB
    """Members smaller than this are not held to ``max_ratio`` (small JSON compresses very well)."""


DEFAULT_LIMITS = BundleLimits()


@dataclass(frozen=True, slots=True)
class WorkflowBundle:
    """An opened bundle: its checked manifest and where it is. ``read_bytes``/``read_json`` read a member
    by its relative path; ``flow`` reads a flow by id (``BundleFlows`` serves them to the subflow
    executor)."""

    source: Path
    manifest: BundleManifest
    is_zip: bool
    limits: BundleLimits = DEFAULT_LIMITS
    label: str | None = None  # how messages name the bundle (default: its file name)

    @property
    def name(self) -> str:
        return self.label or self.source.name

    def members(self) -> list[str]:
        """The files the bundle holds, relative paths with ``/``, sorted."""
        if self.is_zip:
            with _open_zip(self.source, self.name) as archive:
                return sorted(info.filename for info in archive.infolist() if not info.is_dir())
        root = self.source.resolve()
        return sorted(
            p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and _inside(p, root)
        )

    def read_bytes(self, relpath: str) -> bytes:
        """A member's content. ``BundleError`` when the path is unsafe or the bundle lacks it."""
        reason = unsafe_path_reason(relpath)
        if reason is not None:
            raise BundleError(f"bundle {self.name}: path {relpath!r} is unsafe ({reason})")
        if self.is_zip:
            with _open_zip(self.source, self.name) as archive:
                try:
                    info = archive.getinfo(relpath)
                except KeyError:
                    raise BundleError(f"bundle {self.name} has no file {relpath}") from None
                return _read_member(archive, info, self.limits, self.name)
        root = self.source.resolve()
        path = root / relpath
        if not _inside(path, root):
            raise BundleError(f"bundle {self.name}: {relpath} leads outside the bundle folder")
        if not path.is_file():
            raise BundleError(f"bundle {self.name} has no file {relpath}")
        if path.stat().st_size > self.limits.max_member_bytes:
            raise BundleError(
                f"bundle {self.name}: {relpath} is larger than {self.limits.max_member_bytes} bytes"
            )
        return path.read_bytes()

    def read_json(self, relpath: str) -> Any:
        return _parse_json(self.read_bytes(relpath), f"bundle {self.name}: {relpath}")

    def flow(self, flow_id: str) -> dict[str, Any]:
        """The VisualFlow document of ``flow_id`` (as the manifest's ``flows`` places it)."""
        relpath = self.manifest.flows.get(flow_id)
        if relpath is None:
            listed = ", ".join(sorted(self.manifest.flows)) or "none"
            raise BundleError(
                f"bundle {self.name} has no flow '{flow_id}' in manifest.flows (flows: {listed})"
            )
        document = self.read_json(relpath)
        if not isinstance(document, dict):
            raise BundleError(f"bundle {self.name}: {relpath} must hold a JSON object (a VisualFlow)")
        return document

    def asset(self, name: str) -> bytes:
        """The content of the asset ``name`` (a key of the manifest's ``assets``)."""
        relpath = self.manifest.assets.get(name)
        if relpath is None:
            raise BundleError(f"bundle {self.name} has no asset '{name}'")
        return self.read_bytes(relpath)


def open_workflow_bundle(
    source: str | Path, *, limits: BundleLimits = DEFAULT_LIMITS, label: str | None = None
) -> WorkflowBundle:
    """Open a ``.flow`` zip or a bundle folder and check it: its manifest (``BundleError`` naming each
    problem), every member's name and size. ``label`` names it in messages (default: its file name)."""
    path = Path(source).expanduser()
    name = label or path.name
    if path.is_dir():
        manifest_path = path / MANIFEST
        if manifest_path.is_file() and not _inside(manifest_path, path.resolve()):
            raise BundleError(f"bundle folder {path}: manifest.json leads outside the folder")
        if not manifest_path.is_file():
            raise BundleError(f"manifest.json not found in bundle folder {path}")
        raw = _parse_json(manifest_path.read_bytes(), f"bundle {name}: manifest.json")
        manifest = read_manifest(raw, f"bundle {name}: manifest.json")
        return WorkflowBundle(path, manifest, False, limits, label)
    if not path.is_file():
        raise BundleError(f"bundle {path} not found")
    with _open_zip(path, name) as archive:
        infos = archive.infolist()
        check_members(infos, limits, name)
        try:
            info = archive.getinfo(MANIFEST)
        except KeyError:
            raise BundleError(f"manifest.json not found in bundle {name}") from None
        raw = _parse_json(_read_member(archive, info, limits, name), f"bundle {name}: manifest.json")
    return WorkflowBundle(path, read_manifest(raw, f"bundle {name}: manifest.json"), True, limits, label)


def check_members(infos: list[zipfile.ZipInfo], limits: BundleLimits, name: str) -> None:
    """Refuse a zip with an unsafe member name (absolute, ``..``, drive letter), a symlink, or sizes past
    ``limits``, from its central directory."""
    if len(infos) > limits.max_members:
        raise BundleError(f"bundle {name} has {len(infos)} members, more than {limits.max_members}")
    total = 0
    seen: set[str] = set()
    for info in infos:
        if info.filename in seen:  # readers disagree on which copy counts: refuse the ambiguity
            raise BundleError(f"bundle {name} has the member {info.filename!r} twice")
        seen.add(info.filename)
        reason = unsafe_path_reason(info.filename)
        if reason is not None:
            raise BundleError(f"bundle {name} has an unsafe member {info.filename!r}: {reason}")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise BundleError(f"bundle {name} has an unsafe member {info.filename!r}: it is a symlink")
        if info.file_size > limits.max_member_bytes:
            raise BundleError(
                f"bundle {name}: member {info.filename!r} unpacks to {info.file_size} bytes, "
                f"more than {limits.max_member_bytes}"
            )
        if info.file_size > limits.ratio_floor_bytes and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise BundleError(
                f"bundle {name}: member {info.filename!r} is compressed more than {limits.max_ratio:g} to 1 "
                "(a zip bomb?)"
            )
        total += info.file_size
        if total > limits.max_total_bytes:
            raise BundleError(f"bundle {name} unpacks to more than {limits.max_total_bytes} bytes")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: BundleLimits, name: str) -> bytes:
    # read at most one byte past the limit: a member whose header understates its size stops there
    try:
        with archive.open(info) as member:
            content = member.read(limits.max_member_bytes + 1)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
        raise BundleError(f"bundle {name}: cannot read {info.filename}: {exc}") from exc
    if len(content) > limits.max_member_bytes:
        raise BundleError(f"bundle {name}: {info.filename} is larger than {limits.max_member_bytes} bytes")
    return content


def _open_zip(path: Path, name: str | None = None) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise BundleError(
            f"bundle {name or path.name} is not a zip file (.flow) nor a bundle folder"
        ) from None
    except OSError as exc:
        raise BundleError(f"cannot read bundle {path}: {exc.strerror or exc}") from exc


def _parse_json(content: bytes, where: str) -> Any:
    try:
        return json.loads(content.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BundleError(f"{where} is not UTF-8 text: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise BundleError(
            f"{where} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise BundleError(f"{where} is nested too deeply to read") from None


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path``, symlinks followed, stays inside ``root`` (resolved)."""
    return path.resolve().is_relative_to(root)


def unpack_workflow_bundle(
    bundle_path: str | Path, out_dir: str | Path, *, limits: BundleLimits = DEFAULT_LIMITS
) -> Path:
    """Extract a ``.flow`` zip into ``out_dir`` (made if needed) and return it. The bundle is opened and
    checked first (unsafe members, sizes, manifest); no file is written outside ``out_dir``, and a path
    there that is a symlink leading out is refused."""
    bundle = open_workflow_bundle(bundle_path, limits=limits)
    if not bundle.is_zip:
        raise BundleError(f"{bundle.source} is a bundle folder already: only a .flow file is unpacked")
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    root = out.resolve()
    with _open_zip(bundle.source) as archive:
        infos = archive.infolist()
        check_members(infos, limits, bundle.name)
        for info in infos:
            target = root / info.filename
            if not _inside(target, root):
                raise BundleError(f"bundle {bundle.name}: {info.filename} would be written outside {out}")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if not _inside(target.parent, root) or target.is_symlink():
                raise BundleError(f"bundle {bundle.name}: {info.filename} would be written outside {out}")
            target.write_bytes(_read_member(archive, info, limits, bundle.name))
    return out
