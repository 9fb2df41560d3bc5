"""The bundle manifest (``manifest.json``), format version 1: reading it permissively (snake_case or
camelCase keys, junk entries dropped, as AbstractRuntime does), checking it, and writing it in snake_case."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._errors import BundleError, BundleNotFoundError

BUNDLE_FORMAT_VERSION = "1"
MANIFEST = "manifest.json"
DEFAULT_VERSION = "0.0.0"


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleEntrypoint:
    """A flow of a bundle that can be run: its flow id, and how a person finds it."""

    flow_id: str
    name: str | None = None
    description: str = ""
    interfaces: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "flow_id": self.flow_id,
            "name": self.name,
            "description": self.description,
            "interfaces": list(self.interfaces),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleManifest:
    """What a bundle holds: its id and version, its entrypoints (the default one among them), and where its
    flows, assets and (legacy) artifacts are inside it (relative paths)."""

    bundle_format_version: str = BUNDLE_FORMAT_VERSION
    bundle_id: str
    bundle_version: str = DEFAULT_VERSION
    created_at: str = ""
    entrypoints: tuple[BundleEntrypoint, ...] = ()
    default_entrypoint: str | None = None
    flows: Mapping[str, str] = field(default_factory=dict)
    artifacts: Mapping[str, str] = field(default_factory=dict)
    assets: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        """``bundle_id@bundle_version``."""
        return f"{self.bundle_id}@{self.bundle_version}"

    def entrypoint(self, flow_id: str | None = None) -> BundleEntrypoint:
        """The entrypoint ``flow_id``; without one, the default entrypoint, else the first."""
        wanted = flow_id if flow_id is not None else self.default_entrypoint
        for entry in self.entrypoints:
            if entry.flow_id == wanted:
                return entry
        if flow_id is not None:
            listed = ", ".join(sorted(e.flow_id for e in self.entrypoints))
            raise BundleNotFoundError(
                f"entrypoint '{flow_id}' not found in bundle {self.ref} (entrypoints: {listed})"
            )
        return self.entrypoints[0]

    def problems(self) -> list[str]:
        """What is wrong with the manifest, each naming its field (empty: it is valid)."""
        if self.bundle_format_version != BUNDLE_FORMAT_VERSION:
            return [
                f"Unsupported WorkflowBundle bundle_format_version '{self.bundle_format_version}' "
                f"(supported: '{BUNDLE_FORMAT_VERSION}')"
            ]
        problems: list[str] = []
        if not self.bundle_id:
            problems.append("bundle_id must be a non-empty string")
        if not self.bundle_version:
            problems.append("bundle_version must be a non-empty string")
        if not self.entrypoints:
            problems.append("manifest.entrypoints must be a non-empty list")
        seen: set[str] = set()
        for index, entry in enumerate(self.entrypoints):
            if not entry.flow_id:
                problems.append(f"entrypoints[{index}].flow_id must be a non-empty string")
            elif entry.flow_id in seen:
                problems.append(f"Duplicate entrypoint flow_id '{entry.flow_id}'")
            seen.add(entry.flow_id)
        if self.default_entrypoint is not None and self.default_entrypoint not in seen:
            problems.append(
                f"default_entrypoint '{self.default_entrypoint}' must match an entrypoint.flow_id"
            )
        for name, paths in (("flows", self.flows), ("artifacts", self.artifacts), ("assets", self.assets)):
            for key, path in paths.items():
                if not key:
                    problems.append(f"manifest.{name} has an empty key")
                if unsafe_path_reason(path) is not None:
                    problems.append(f"manifest.{name} entry '{key}' has unsafe path '{path}'")
        return problems

    def to_json(self) -> dict[str, Any]:
        """The manifest in snake_case; a null ``default_entrypoint`` is left out."""
        found: dict[str, Any] = {
            "bundle_format_version": self.bundle_format_version,
            "bundle_id": self.bundle_id,
            "bundle_version": self.bundle_version,
            "created_at": self.created_at,
            "entrypoints": [entry.to_json() for entry in self.entrypoints],
            "default_entrypoint": self.default_entrypoint,
            "flows": dict(self.flows),
            "artifacts": dict(self.artifacts),
            "assets": dict(self.assets),
            "metadata": dict(self.metadata),
        }
        if found["default_entrypoint"] is None:
            del found["default_entrypoint"]
        return found


def unsafe_path_reason(path: object) -> str | None:
    """Why ``path`` is not a safe relative path inside a bundle (None: it is): absolute, a drive letter or
    other ``x:`` prefix, a ``.`` or ``..`` segment, empty, a NUL character."""
    if not isinstance(path, str) or not path.strip():
        return "it is empty"
    text = path.replace("\\", "/")
    if text.startswith("/"):
        return "it is absolute"
    if "\0" in text:
        return "it holds a NUL character"
    if ":" in text.split("/", 1)[0]:
        return "it starts with a drive letter"
    if any(part in (".", "..") for part in text.split("/")):
        return "it has a '.' or '..' segment"
    return None


def read_manifest(raw: Any, where: str) -> BundleManifest:
    """The manifest of a parsed ``manifest.json`` (``where`` names it in errors), checked.
    ``BundleError`` listing every problem otherwise."""
    if not isinstance(raw, Mapping):
        raise BundleError(f"{where} must be a JSON object, got {type(raw).__name__}")
    manifest = BundleManifest(
        bundle_format_version=_text(raw, "bundle_format_version", "bundleFormatVersion"),
        bundle_id=_text(raw, "bundle_id", "bundleId"),
        bundle_version=_text(raw, "bundle_version", "bundleVersion") or DEFAULT_VERSION,
        created_at=_text(raw, "created_at", "createdAt", strip=False),
        entrypoints=tuple(_entrypoints(raw.get("entrypoints"))),
        default_entrypoint=_text(raw, "default_entrypoint", "defaultEntrypoint") or None,
        flows=_paths(raw.get("flows")),
        artifacts=_paths(raw.get("artifacts")),
        assets=_paths(raw.get("assets")),
        metadata=dict(raw["metadata"]) if isinstance(raw.get("metadata"), Mapping) else {},
    )
    problems = manifest.problems()
    if problems:
        raise BundleError(f"{where}: {'; '.join(problems)}")
    return manifest


def _text(raw: Mapping[str, Any], *keys: str, strip: bool = True) -> str:
    for key in keys:
        value = raw.get(key)
        if value is not None and value != "":
            text = str(value)
            return text.strip() if strip else text
    return ""


def _entrypoints(raw: Any) -> list[BundleEntrypoint]:
    if not isinstance(raw, list):
        return []
    found = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue  # editors have written junk here; AbstractRuntime drops it too
        name = item.get("name")
        interfaces = item.get("interfaces")
        found.append(
            BundleEntrypoint(
                flow_id=_text(item, "flow_id", "flowId"),
                name=name.strip() if isinstance(name, str) and name.strip() else None,
                description=str(item.get("description") or ""),
                interfaces=tuple(
                    x.strip() for x in (interfaces if isinstance(interfaces, list) else []) if _is_text(x)
                ),
            )
        )
    return found


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _paths(raw: Any) -> dict[str, str]:
    # values are kept as given: a non-string one is reported by ``problems`` as an unsafe path
    return {str(k): v for k, v in raw.items()} if isinstance(raw, Mapping) else {}
