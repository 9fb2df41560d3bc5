"""``flowloom.bundles`` as a library: packing (reachable subflows, assets, a deterministic zip), opening
untrusted bundles (unsafe member names, symlinks, zip bombs, manifest errors naming the field), unpacking
without writing outside the target, and the registry (refs, latest by semver else by creation time)."""

from __future__ import annotations

import json
import os
import re
import stat
import zipfile
from pathlib import Path

import pytest

from _bundles import asks, bundle_zip, calls, manifest, says, write_flows, write_zip
from flowloom.bundles import (
    BundleError,
    BundleFlows,
    BundleInstalledError,
    BundleLimits,
    BundleNotFoundError,
    BundleRegistryError,
    WorkflowBundleRegistry,
    bundle_run_metadata,
    default_workflow_bundles_dir,
    inspect_workflow_bundle,
    open_workflow_bundle,
    pack_workflow_bundle,
    unpack_workflow_bundle,
)

# -- packing -------------------------------------------------------------------------------------------


def test_pack_follows_reachable_subflows_and_copies_them_byte_for_byte(tmp_path: Path) -> None:
    root, *_ = write_flows(
        tmp_path / "src",
        calls("root", "child", unreached="unused"),
        calls("child", "grandchild"),
        says("grandchild", "deep"),
        says("unused", "never packed"),
    )
    packed = pack_workflow_bundle(root, tmp_path / "out" / "r.flow", bundle_id="r", bundle_version="2.1")
    with zipfile.ZipFile(packed.path) as archive:
        names = archive.namelist()
        assert names == ["flows/child.json", "flows/grandchild.json", "flows/root.json", "manifest.json"]
        for flow_id in ("root", "child", "grandchild"):
            assert (
                archive.read(f"flows/{flow_id}.json") == (tmp_path / "src" / f"{flow_id}.json").read_bytes()
            )
        written = json.loads(archive.read("manifest.json"))
    assert written["bundle_id"] == "r" and written["bundle_version"] == "2.1"
    assert written["default_entrypoint"] == "root"
    assert [e["flow_id"] for e in written["entrypoints"]] == ["root"]
    reopened = open_workflow_bundle(packed.path)
    assert reopened.manifest == packed.manifest
    assert reopened.members() == names


def test_pack_is_deterministic(tmp_path: Path) -> None:
    root, *_ = write_flows(tmp_path, calls("root", "b", "a"), says("a", "A"), says("b", "B"))
    first = pack_workflow_bundle(root, tmp_path / "1.flow", created_at="2026-01-01T00:00:00+00:00")
    second = pack_workflow_bundle(root, tmp_path / "2.flow", created_at="2026-01-01T00:00:00+00:00")
    assert first.path.read_bytes() == second.path.read_bytes()


def test_pack_without_entry_node_follows_the_entry_the_compiler_runs(tmp_path: Path) -> None:
    # two exec roots: the first in document order without an incoming exec edge is the entry (D4)
    flow = calls("two", "child_a")
    other = calls("other", "child_b")
    for item in other["nodes"]:
        item["id"] = "o_" + item["id"]
    for item in other["edges"]:
        item["source"], item["target"] = "o_" + item["source"], "o_" + item["target"]
    flow["nodes"] += other["nodes"]
    flow["edges"] += other["edges"]
    root, *_ = write_flows(tmp_path, flow, says("child_a", "a"), says("child_b", "b"))
    packed = pack_workflow_bundle(root, tmp_path / "t.flow")
    assert sorted(packed.manifest.flows) == ["child_a", "two"]


def test_pack_refuses_a_missing_subflow_naming_it(tmp_path: Path) -> None:
    root, *_ = write_flows(tmp_path, calls("root", "ghost"))
    with pytest.raises(BundleError, match=r"Missing referenced subflows.*'ghost'"):
        pack_workflow_bundle(root, tmp_path / "x.flow")
    assert not (tmp_path / "x.flow").exists()


def test_pack_self_recursion_packs_the_flow_once(tmp_path: Path) -> None:
    root, *_ = write_flows(tmp_path, calls("again", "again"))
    packed = pack_workflow_bundle(root, tmp_path / "a.flow")
    assert dict(packed.manifest.flows) == {"again": "flows/again.json"}


def test_pack_carries_assets_and_they_read_back(tmp_path: Path) -> None:
    root, *_ = write_flows(tmp_path, says("main", "hi"))
    (tmp_path / "logo.png").write_bytes(b"\x89PNG fake")
    packed = pack_workflow_bundle(root, tmp_path / "a.flow", assets={"img/logo.png": tmp_path / "logo.png"})
    bundle = open_workflow_bundle(packed.path)
    assert dict(bundle.manifest.assets) == {"img/logo.png": "assets/img/logo.png"}
    assert bundle.asset("img/logo.png") == b"\x89PNG fake"
    with pytest.raises(BundleError, match=re.escape("asset name '../x' is unsafe")):
        pack_workflow_bundle(root, tmp_path / "b.flow", assets={"../x": tmp_path / "logo.png"})


def test_pack_refuses_a_root_without_id(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(json.dumps({"nodes": [], "edges": []}))
    with pytest.raises(BundleError, match=r"root flow .*r\.json has no 'id'"):
        pack_workflow_bundle(tmp_path / "r.json", tmp_path / "r.flow")


# -- opening untrusted bundles ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "member", ["../escape.txt", "/etc/passwd", "C:/win.ini", "a/../../b", "x\\..\\..\\y"]
)
def test_an_unsafe_member_name_refuses_the_whole_bundle(tmp_path: Path, member: str) -> None:
    path = bundle_zip(tmp_path / "ok.flow")
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(member, b"outside")
    with pytest.raises(BundleError, match="unsafe member"):
        open_workflow_bundle(path)


def test_a_symlink_member_is_refused(tmp_path: Path) -> None:
    path = bundle_zip(tmp_path / "ok.flow")
    with zipfile.ZipFile(path, "a") as archive:
        link = zipfile.ZipInfo("flows/link.json")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(BundleError, match="it is a symlink"):
        open_workflow_bundle(path)


def test_a_member_named_twice_is_refused(tmp_path: Path) -> None:
    path = bundle_zip(tmp_path / "twice.flow")
    with zipfile.ZipFile(path, "a") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("manifest.json", json.dumps(manifest("other")))
    with pytest.raises(BundleError, match=re.escape("has the member 'manifest.json' twice")):
        open_workflow_bundle(path)


def test_a_folder_manifest_leading_outside_is_refused(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "elsewhere.json").write_text(json.dumps(manifest()))
    os.symlink(tmp_path / "elsewhere.json", tmp_path / "b" / "manifest.json")
    with pytest.raises(BundleError, match=re.escape("manifest.json leads outside the folder")):
        open_workflow_bundle(tmp_path / "b")


def test_a_zip_bomb_is_refused_by_its_compression_ratio(tmp_path: Path) -> None:
    path = bundle_zip(tmp_path / "bomb.flow")
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("assets/zeros.bin", bytes(8 * 1024 * 1024))
    with pytest.raises(BundleError, match="compressed more than 200 to 1"):
        open_workflow_bundle(path)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (BundleLimits(max_member_bytes=100), "unpacks to .* bytes, more than 100"),
        (BundleLimits(max_total_bytes=300), "unpacks to more than 300 bytes"),
        (BundleLimits(max_members=1), "has 2 members, more than 1"),
    ],
)
def test_size_limits_refuse_a_bundle(tmp_path: Path, limits: BundleLimits, message: str) -> None:
    path = bundle_zip(tmp_path / "big.flow")
    with pytest.raises(BundleError, match=message):
        open_workflow_bundle(path, limits=limits)


def test_a_member_whose_header_understates_its_size_is_cut_at_the_limit(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "liar.flow", {"manifest.json": manifest(), "flows/main.json": "x" * 5000})
    raw = bytearray(path.read_bytes())
    # patch the central directory's uncompressed size of flows/main.json to 10 bytes
    entry = raw.rfind(b"PK\x01\x02", 0, raw.rfind(b"flows/main.json"))
    raw[entry + 24 : entry + 28] = (10).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    bundle = open_workflow_bundle(path, limits=BundleLimits(max_member_bytes=1000))
    with pytest.raises(BundleError, match=re.escape("flows/main.json")):
        bundle.read_bytes("flows/main.json")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"bundle_format_version": "2"}, "Unsupported WorkflowBundle bundle_format_version '2'"),
        ({"bundle_id": ""}, "bundle_id must be a non-empty string"),
        ({"entrypoints": []}, "manifest.entrypoints must be a non-empty list"),
        ({"entrypoints": [{"flow_id": "main"}, {"flow_id": "main"}]}, "Duplicate entrypoint flow_id 'main'"),
        ({"entrypoints": [{"flow_id": ""}]}, r"entrypoints\[0\].flow_id must be a non-empty string"),
        ({"default_entrypoint": "other"}, "default_entrypoint 'other' must match an entrypoint.flow_id"),
        ({"flows": {"main": "../main.json"}}, "manifest.flows entry 'main' has unsafe path '../main.json'"),
        ({"assets": {"a": "/etc/passwd"}}, "manifest.assets entry 'a' has unsafe path '/etc/passwd'"),
        ({"artifacts": {"a": "C:/x"}}, "manifest.artifacts entry 'a' has unsafe path 'C:/x'"),
    ],
)
def test_manifest_errors_name_the_field(tmp_path: Path, fields: dict[str, object], message: str) -> None:
    path = bundle_zip(tmp_path / "bad.flow", **fields)
    with pytest.raises(BundleError, match=rf"bundle bad\.flow: manifest\.json: .*{message}"):
        inspect_workflow_bundle(path)


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"flows/main.json": {}}, "manifest.json not found in bundle"),
        ({"manifest.json": "{not json"}, "manifest.json is not valid JSON: .* at line 1"),
        ({"manifest.json": [1]}, "manifest.json must be a JSON object, got list"),
    ],
)
def test_unreadable_manifests_are_refused(tmp_path: Path, members: dict[str, object], message: str) -> None:
    with pytest.raises(BundleError, match=message):
        open_workflow_bundle(write_zip(tmp_path / "m.flow", members))


def test_not_a_zip_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain.flow").write_text("hello")
    with pytest.raises(BundleError, match=re.escape("plain.flow is not a zip file")):
        open_workflow_bundle(tmp_path / "plain.flow")


def test_camel_case_manifests_are_read(tmp_path: Path) -> None:
    raw = {
        "bundleFormatVersion": "1",
        "bundleId": "camel",
        "bundleVersion": "2.0.0",
        "entrypoints": [{"flowId": "main", "name": "Main", "interfaces": ["x.v1", "", 3]}, "junk"],
        "defaultEntrypoint": "main",
        "flows": {"main": "flows/main.json"},
    }
    found = inspect_workflow_bundle(write_zip(tmp_path / "c.flow", {"manifest.json": raw}))
    assert found.ref == "camel@2.0.0"
    assert [(e.flow_id, e.interfaces) for e in found.entrypoints] == [("main", ("x.v1",))]


def test_a_folder_bundle_runs_no_read_outside_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "b"
    (folder / "flows").mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(manifest()))
    (tmp_path / "secret.json").write_text(json.dumps(says("main", "secret")))
    os.symlink(tmp_path / "secret.json", folder / "flows" / "main.json")
    bundle = open_workflow_bundle(folder)
    assert not bundle.is_zip
    with pytest.raises(BundleError, match="leads outside the bundle folder"):
        bundle.flow("main")


def test_a_flow_the_manifest_lists_but_the_bundle_lacks_is_named(tmp_path: Path) -> None:
    bundle = open_workflow_bundle(write_zip(tmp_path / "h.flow", {"manifest.json": manifest()}))
    with pytest.raises(BundleError, match=re.escape("h.flow has no file flows/main.json")):
        bundle.flow("main")


def test_bundle_flows_resolve_by_flow_id(tmp_path: Path) -> None:
    root, *_ = write_flows(tmp_path, calls("root", "child"), says("child", "c"))
    flows = BundleFlows(open_workflow_bundle(pack_workflow_bundle(root, tmp_path / "r.flow").path))
    assert flows.flow_ids == ["child", "root"]
    child = flows.get("child")
    assert child is not None and child["id"] == "child"
    assert flows.get("elsewhere") is None
    with pytest.raises(BundleError, match="has no flow 'elsewhere'"):
        flows.require("elsewhere")


def test_an_entry_flow_carries_the_subflows_it_reaches(tmp_path: Path) -> None:
    root, *_ = write_flows(
        tmp_path, calls("root", "child", "root"), calls("child", "leaf"), says("leaf", "l")
    )
    packed = pack_workflow_bundle(root, tmp_path / "r.flow", bundle_version="1")
    bundle = open_workflow_bundle(packed.path)
    document = BundleFlows(bundle).with_subflows("root")
    assert sorted(document["subflows"]) == ["child", "leaf", "root"]  # root: it calls itself
    assert document["subflows"]["leaf"] == json.loads((tmp_path / "leaf.json").read_text())
    assert "subflows" not in document["subflows"]["root"]
    assert "subflows" not in BundleFlows(bundle).with_subflows("leaf")
    assert bundle_run_metadata(bundle, "root") == {
        "bundle": {"id": "root", "version": "1", "flow": "root", "source": str(packed.path.resolve())}
    }


# -- unpacking -------------------------------------------------------------------------------------------


def test_unpack_extracts_into_the_folder(tmp_path: Path) -> None:
    out = unpack_workflow_bundle(bundle_zip(tmp_path / "u.flow"), tmp_path / "out")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "flows/main.json",
        "manifest.json",
    ]
    assert open_workflow_bundle(out).manifest.ref == "demo@1.0.0"
    assert open_workflow_bundle(out).members() == ["flows/main.json", "manifest.json"]


def test_unpack_writes_nothing_of_an_unsafe_bundle(tmp_path: Path) -> None:
    path = bundle_zip(tmp_path / "evil.flow")
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("../../escape.txt", b"outside")
    with pytest.raises(BundleError, match=re.escape("unsafe member '../../escape.txt'")):
        unpack_workflow_bundle(path, tmp_path / "deep" / "out")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "deep" / "out").exists()


def test_unpack_does_not_follow_a_symlink_out_of_the_target(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", out / "flows")
    with pytest.raises(BundleError, match="would be written outside"):
        unpack_workflow_bundle(bundle_zip(tmp_path / "u.flow"), out)
    assert list((tmp_path / "elsewhere").iterdir()) == []


# -- the registry ----------------------------------------------------------------------------------------


@pytest.fixture
def registry(tmp_path: Path) -> WorkflowBundleRegistry:
    return WorkflowBundleRegistry(tmp_path / "registry")


def test_install_list_resolve_and_remove(tmp_path: Path, registry: WorkflowBundleRegistry) -> None:
    root, *_ = write_flows(tmp_path / "src", calls("calc", "double"), says("double", "2"), asks("ask_loop"))
    packed = pack_workflow_bundle(root, tmp_path / "suite.flow", bundle_id="suite", bundle_version="1.0.0")
    assert registry.install(packed.path).path.name == "suite@1.0.0.flow"
    with pytest.raises(BundleInstalledError, match=re.escape("suite@1.0.0 is already installed")):
        registry.install(packed.path)
    assert registry.install(packed.path, overwrite=True).ref == "suite@1.0.0"
    assert [b.ref for b in registry.scan()] == ["suite@1.0.0"]
    for ref in ("suite", "suite@1.0.0", "suite:calc", "suite@1.0.0:calc", "suite@1.0.0.flow", "CALC"):
        assert registry.resolve_entrypoint(ref).workflow_id == "suite@1.0.0:calc", ref
    assert registry.remove("suite@9") == 0
    assert registry.remove("suite") == 1
    assert registry.scan() == []


def test_entrypoints_filter_by_interface(tmp_path: Path, registry: WorkflowBundleRegistry) -> None:
    entrypoints = [
        {"flow_id": "main", "name": "Main", "interfaces": ["chat.v1"]},
        {"flow_id": "other", "name": "Other", "interfaces": []},
    ]
    flows = {"main": "flows/main.json", "other": "flows/main.json"}
    registry.install(bundle_zip(tmp_path / "i.flow", "iface", entrypoints=entrypoints, flows=flows))
    assert [e.workflow_id for e in registry.list_entrypoints()] == ["iface@1.0.0:main", "iface@1.0.0:other"]
    assert [e.workflow_id for e in registry.list_entrypoints(interface="chat.v1")] == ["iface@1.0.0:main"]
    assert registry.resolve_entrypoint("iface", interface="chat.v1").name == "Main"
    with pytest.raises(
        BundleRegistryError, match=re.escape("iface@1.0.0:other does not implement interface 'chat.v1'")
    ):
        registry.resolve_entrypoint("iface:other", interface="chat.v1")


@pytest.mark.parametrize("ref", ["nope", "suite@9.9.9", "suite:missing", "suite@1.0.0:missing"])
def test_unknown_refs_are_not_found(tmp_path: Path, registry: WorkflowBundleRegistry, ref: str) -> None:
    registry.install(bundle_zip(tmp_path / "s.flow", "suite"))
    with pytest.raises(BundleNotFoundError, match="not found"):
        registry.resolve_entrypoint(ref)


def test_an_entrypoint_name_two_bundles_share_is_ambiguous(
    tmp_path: Path, registry: WorkflowBundleRegistry
) -> None:
    registry.install(bundle_zip(tmp_path / "a.flow", "alpha"))
    registry.install(bundle_zip(tmp_path / "b.flow", "beta"))
    with pytest.raises(
        BundleRegistryError, match=r"'main' matches multiple bundles \(alpha@1.0.0, beta@1.0.0\)"
    ):
        registry.resolve_entrypoint("main")


@pytest.mark.parametrize(
    ("versions", "latest"),
    [
        (["1.2.0", "1.10.0", "1.9.0"], "1.10.0"),
        (["0.9", "0.10"], "0.10"),
        (["2", "1.99.99"], "2"),
    ],
)
def test_latest_is_the_highest_numeric_version(
    tmp_path: Path, registry: WorkflowBundleRegistry, versions: list[str], latest: str
) -> None:
    for version in versions:
        registry.install(bundle_zip(tmp_path / f"{version}.flow", "demo", version))
    assert registry.resolve_bundle("demo").bundle_version == latest
    assert [e.bundle.bundle_version for e in registry.list_entrypoints()] == [latest]
    assert len(registry.list_entrypoints(latest_only=False)) == len(versions)


def test_latest_is_the_newest_when_a_version_is_not_numeric(
    tmp_path: Path, registry: WorkflowBundleRegistry
) -> None:
    for version, created in (("2.0.0", "2026-03-01T00:00:00+00:00"), ("beta", "2026-04-01T00:00:00Z")):
        registry.install(bundle_zip(tmp_path / f"{version}.flow", "n", version, created_at=created))
    registry.install(bundle_zip(tmp_path / "old.flow", "n", "1.0.0", created_at="2025-01-01T00:00:00+00:00"))
    assert registry.resolve_bundle("n").bundle_version == "beta"


@pytest.mark.parametrize(
    ("bundle_id", "version", "message"),
    [
        ("my demo", "1.0.0", "Bundle id 'my demo' contains unsafe characters .* e.g. 'my-demo'"),
        ("ok", "1.0/2", "Bundle version '1.0/2' contains unsafe characters .* e.g. '1.0-2'"),
    ],
)
def test_unsafe_ids_and_versions_are_not_installed(
    tmp_path: Path, registry: WorkflowBundleRegistry, bundle_id: str, version: str, message: str
) -> None:
    with pytest.raises(BundleRegistryError, match=message):
        registry.install(bundle_zip(tmp_path / "x.flow", bundle_id, version))
    assert [p.name for p in registry.bundles_dir.iterdir()] == []  # no staged file left behind


def test_install_bytes_checks_the_upload(tmp_path: Path, registry: WorkflowBundleRegistry) -> None:
    installed = registry.install_bytes(bundle_zip(tmp_path / "up.flow", "up", "3").read_bytes())
    assert installed.path == registry.bundles_dir / "up@3.flow"
    evil = bundle_zip(tmp_path / "evil.flow", "evil")
    with zipfile.ZipFile(evil, "a") as archive:
        archive.writestr("../x", b"x")
    with pytest.raises(BundleError, match=r"^bundle evil-upload has an unsafe member '\.\./x'"):
        registry.install_bytes(evil.read_bytes(), filename_hint="evil-upload")
    with pytest.raises(BundleRegistryError, match="the bundle is empty"):
        registry.install_bytes(b"")
    assert sorted(p.name for p in registry.bundles_dir.iterdir()) == ["up@3.flow"]


def test_the_default_registry_folder_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWLOOM_BUNDLES_DIR", str(tmp_path / "mine"))
    assert default_workflow_bundles_dir() == tmp_path / "mine"
    assert WorkflowBundleRegistry().bundles_dir == tmp_path / "mine"
    monkeypatch.delenv("FLOWLOOM_BUNDLES_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_workflow_bundles_dir() == tmp_path / "data" / "flowloom" / "bundles"
