"""Packing a ``.flow`` bundle from a root VisualFlow file: the root, every subflow its runs can reach (looked
up as ``<flow id>.json`` in the flows folder, followed through the subflows' own subflows), copied byte for
byte, and the assets given; the manifest names the root as the default entrypoint. The zip is the same
for the same inputs (deviation D4): members in sorted order, with a fixed timestamp."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowloom.formats.visualflow import reachable_subflows

from ._errors import BundleError
from ._manifest import MANIFEST, BundleEntrypoint, BundleManifest, unsafe_path_reason

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: members do not carry the time they were packed


@dataclass(frozen=True, slots=True)
class PackedWorkflowBundle:
    """A bundle ``pack_workflow_bundle`` wrote: where, and its manifest."""

    path: Path
    manifest: BundleManifest


@dataclass(frozen=True, slots=True)
class _Flow:
    document: Mapping[str, Any]
    content: bytes  # the file as it is: flows are packed byte for byte


def pack_workflow_bundle(
    root_flow_json: str | Path,
    out_path: str | Path,
    *,
    bundle_id: str | None = None,
    bundle_version: str | None = None,
    flows_dir: str | Path | None = None,
    entrypoints: Sequence[str] | None = None,
    default_entrypoint: str | None = None,
    assets: Mapping[str, str | Path] | None = None,
    metadata: Mapping[str, Any] | None = None,
    created_at: str | None = None,
) -> PackedWorkflowBundle:
    """Write a ``.flow`` bundle of ``root_flow_json`` and the subflows its runs can reach to ``out_path``.

    ``bundle_id`` defaults to the root flow's id, ``bundle_version`` to ``0.0.0``; ``flows_dir`` (where
    subflows are looked up, as ``<flow id>.json``) to the root file's folder. ``entrypoints`` are flow ids
    (default: the root), ``default_entrypoint`` one of them (default: the root if listed, else the first).
    ``assets`` maps a logical name to a file, packed as ``assets/<name>``. ``BundleError`` names a missing
    subflow, an unreadable flow, an unsafe asset name."""
    for name in assets or {}:
        reason = unsafe_path_reason(name)
        if reason is not None:
            raise BundleError(f"asset name {name!r} is unsafe ({reason})")
    root_path = Path(root_flow_json).expanduser()
    base = Path(flows_dir).expanduser() if flows_dir is not None else root_path.parent
    root = _read_flow(root_path)
    root_id = root.document.get("id")
    if not isinstance(root_id, str) or not root_id.strip():
        raise BundleError(f"root flow {root_path} has no 'id'")
    root_id = root_id.strip()
    entry_ids = [root_id] if not entrypoints else [e.strip() for e in entrypoints if e.strip()]
    flows = _collect(root_id, root, entry_ids, base)

    default = default_entrypoint or (root_id if root_id in entry_ids else entry_ids[0])
    manifest = BundleManifest(
        bundle_id=(bundle_id or "").strip() or root_id,
        bundle_version=(bundle_version or "").strip() or "0.0.0",
        created_at=created_at or dt.datetime.now(dt.UTC).isoformat(),
        entrypoints=tuple(_entrypoint(fid, flows[fid].document) for fid in entry_ids),
        default_entrypoint=default,
        flows={fid: f"flows/{fid}.json" for fid in sorted(flows)},
        assets={name: f"assets/{name}" for name in sorted(assets or {})},
        metadata=dict(metadata or {}),
    )
    problems = manifest.problems()
    if problems:
        raise BundleError(f"cannot pack {root_path}: {'; '.join(problems)}")
    members: dict[str, bytes] = {
        MANIFEST: (json.dumps(manifest.to_json(), indent=2, ensure_ascii=False)).encode()
    }
    for fid in sorted(flows):
        members[manifest.flows[fid]] = flows[fid].content
    for name, file in sorted((assets or {}).items()):
        members[manifest.assets[name]] = _read_asset(name, Path(file))
    out = Path(out_path).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, members[name])
    return PackedWorkflowBundle(out, manifest)


def _collect(root_id: str, root: _Flow, entry_ids: list[str], base: Path) -> dict[str, _Flow]:
    """The flows to pack by id: each entrypoint and, depth first, the subflows each reaches."""
    flows: dict[str, _Flow] = {root_id: root}
    missing: set[str] = set()
    todo = list(reversed(entry_ids))
    visited: set[str] = set()
    while todo:
        fid = todo.pop()
        if fid in visited:
            continue
        visited.add(fid)
        flow = flows.get(fid) or _find(fid, base)
        if flow is None:
            missing.add(fid)
            continue
        flows[fid] = flow
        for node_id, sub_id in reversed(reachable_subflows(flow.document)):
            if sub_id is None:
                missing.add(f"<no subflowId on node '{node_id}' of flow '{fid}'>")
            elif sub_id not in visited:
                todo.append(sub_id)
    if missing:
        raise BundleError(
            f"Missing referenced subflows in {base}: {sorted(missing)} (looked up as <flow id>.json)"
        )
    return flows


def _find(flow_id: str, base: Path) -> _Flow | None:
    if unsafe_path_reason(flow_id) is not None or "/" in flow_id or "\\" in flow_id:
        return None  # a flow id is a file name here, never a path
    path = base / f"{flow_id}.json"
    return _read_flow(path) if path.is_file() else None


def _read_flow(path: Path) -> _Flow:
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read flow {path}: {exc.strerror or exc}") from exc
    try:
        document = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BundleError(f"flow {path} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BundleError(f"flow {path} must be a JSON object (a VisualFlow)")
    return _Flow(document, content)


def _entrypoint(flow_id: str, document: Mapping[str, Any]) -> BundleEntrypoint:
    name = document.get("name")
    interfaces = document.get("interfaces")
    return BundleEntrypoint(
        flow_id=flow_id,
        name=name.strip() if isinstance(name, str) and name.strip() else flow_id,
        description=str(document.get("description") or ""),
        interfaces=tuple(
            x.strip()
            for x in (interfaces if isinstance(interfaces, list) else [])
            if isinstance(x, str) and x.strip()
        ),
    )


def _read_asset(name: str, file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read asset '{name}' from {file}: {exc.strerror or exc}") from exc
