"""Bundles through the hosts: the ``flowloom bundle`` commands and ``flowloom run REF`` as real
subprocesses (each resume in a new process, on a SQLite store), and the bundles API of a live server."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import flowloom
from _bundles import asks, bundle_zip, says, write_flows
from _server import live_server
from flowloom.bundles import pack_workflow_bundle
from flowloom.server import ServerSettings
from test_cli import assert_one_line_error
from test_cli import flowloom as cli


def _json(stdout: str) -> Any:
    return json.loads(stdout.strip().splitlines()[-1])


# -- the CLI -----------------------------------------------------------------------------------------------


def test_pack_install_run_resume_remove(tmp_path: Path) -> None:
    root, *_ = write_flows(tmp_path / "src", asks("ask_name"))
    registry, store = tmp_path / "registry", f"sqlite:///{tmp_path / 'runs.db'}"
    packed = cli("bundle", "pack", root, "-o", tmp_path / "a.flow", "--id", "greet", "--version", "1.2.0")
    assert packed.returncode == 0, packed.stderr
    inspected = cli("bundle", "inspect", tmp_path / "a.flow", "--json")
    assert _json(inspected.stdout)["entrypoints"][0]["name"] == "Ask name"
    installed = cli("bundle", "install", tmp_path / "a.flow", "--dir", registry, "--json")
    assert _json(installed.stdout)["installed"]["bundle_id"] == "greet", installed.stderr
    listed = _json(cli("bundle", "list", "--dir", registry, "--json").stdout)
    assert [(b["bundle_id"], b["bundle_version"]) for b in listed] == [("greet", "1.2.0")]

    started = cli("run", "greet", "--bundles-dir", registry, "--json", "--store", store)
    assert started.returncode == 3, started.stderr
    waiting = _json(started.stdout)
    assert waiting["waiting"]["prompt"] == "Your name?"
    answered = cli(
        "runs", "resume", waiting["run_id"], "--payload", '{"response": "Ada"}', "--json", "--store", store
    )
    assert answered.returncode == 0, answered.stderr
    assert _json(answered.stdout)["outputs"] == {"answer": "Ada", "success": True}
    shown = _json(cli("runs", "show", waiting["run_id"], "--json", "--store", store).stdout)
    assert shown["run"]["metadata"]["bundle"] == {
        "id": "greet",
        "version": "1.2.0",
        "flow": "ask_name",
        "source": str((registry / "greet@1.2.0.flow").resolve()),
    }

    assert _json(cli("bundle", "remove", "greet", "--dir", registry, "--json").stdout) == {"removed": 1}
    assert _json(cli("bundle", "list", "--dir", registry, "--json").stdout) == []


def test_refused_bundles_and_refs_are_one_line_errors(tmp_path: Path) -> None:
    evil = bundle_zip(tmp_path / "evil.flow")
    with zipfile.ZipFile(evil, "a") as archive:
        archive.writestr("../escape.txt", b"outside")
    assert_one_line_error(cli("bundle", "inspect", evil, "--json"), "unsafe member '../escape.txt'")
    assert_one_line_error(cli("bundle", "unpack", evil, "-o", tmp_path / "out"), "unsafe member")
    assert_one_line_error(cli("run", evil, "--no-store"), "unsafe member")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "out").exists()
    assert_one_line_error(
        cli("run", "nope@1", "--bundles-dir", tmp_path / "reg", "--no-store"), "not found", "no file nope@1"
    )
    assert_one_line_error(cli("run", tmp_path / "nope.json", "--no-store"), "nope.json", "No such file")
    assert_one_line_error(
        cli("bundle", "pack", tmp_path / "missing.json", "-o", tmp_path / "m.flow"), "missing.json"
    )


def test_unpack_then_run_the_folder(tmp_path: Path) -> None:
    bundle = bundle_zip(tmp_path / "b.flow", "folder", "3.0.0")
    unpacked = cli("bundle", "unpack", bundle, "-o", tmp_path / "dir")
    assert unpacked.returncode == 0, unpacked.stderr
    ran = cli("run", tmp_path / "dir", "--json", "--no-store")
    assert ran.returncode == 0, ran.stderr
    assert _json(ran.stdout)["outputs"] == {"said": "folder@3.0.0", "success": True}


# -- the server ------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_upload_list_start_answer_and_remove_over_http(tmp_path: Path) -> None:
    root, *_ = write_flows(tmp_path / "src", asks("ask_name"))
    pack_workflow_bundle(root, tmp_path / "a.flow", bundle_id="greet", bundle_version="1.0.0")
    engine = flowloom.Engine(store=f"sqlite:///{tmp_path / 'runs.db'}")
    settings = ServerSettings(bundles_dir=tmp_path / "registry")
    async with live_server(settings, engine) as server, server.client() as client:
        upload = await client.post("/api/v1/bundles", content=(tmp_path / "a.flow").read_bytes())
        assert upload.status_code == 201, upload.text
        assert upload.json()["installed"]["bundle_id"] == "greet"
        again = await client.post("/api/v1/bundles", content=(tmp_path / "a.flow").read_bytes())
        assert (again.status_code, again.json()["code"]) == (409, "CONFLICT")
        bad = await client.post("/api/v1/bundles", content=b"not a zip")
        assert (bad.status_code, bad.json()["code"]) == (400, "INVALID_BUNDLE")

        listed = (await client.get("/api/v1/bundles")).json()
        assert [b["bundle_id"] for b in listed["bundles"]] == ["greet"]
        assert [e["workflow_id"] for e in listed["entrypoints"]] == ["greet@1.0.0:ask_name"]
        shown = await client.get("/api/v1/bundles/greet@1.0.0")
        assert shown.json()["manifest"]["default_entrypoint"] == "ask_name"

        started = await client.post("/api/v1/bundles/greet:ask_name/runs", json={"inputs": {}})
        assert started.status_code == 201, started.text
        run_id = started.json()["id"]
        assert (await _settled(client, run_id))["status"] == "waiting"
        answer = await client.post(f"/api/v1/runs/{run_id}/resume", json={"payload": {"response": "Bo"}})
        assert answer.status_code == 200, answer.text
        done = await _settled(client, run_id)
        assert done["status"] == "succeeded"
        assert done["report"]["outputs"] == {"answer": "Bo", "success": True}

        unknown = await client.post("/api/v1/bundles/nope/runs", json={})
        assert (unknown.status_code, unknown.json()["code"]) == (404, "NOT_FOUND")
        assert (await client.delete("/api/v1/bundles/greet")).json() == {"removed": 1}
        assert (await client.delete("/api/v1/bundles/greet")).status_code == 404
        assert (await client.get("/api/v1/bundles")).json() == {"bundles": [], "entrypoints": []}


@pytest.mark.anyio
async def test_a_refused_upload_leaves_nothing_installed(tmp_path: Path) -> None:
    evil = bundle_zip(tmp_path / "evil.flow", "evil")
    with zipfile.ZipFile(evil, "a") as archive:
        archive.writestr("/etc/evil", b"x")
    settings = ServerSettings(bundles_dir=tmp_path / "registry")
    async with live_server(settings) as server, server.client() as client:
        refused = await client.post("/api/v1/bundles", content=evil.read_bytes())
        assert refused.status_code == 400 and "unsafe member '/etc/evil'" in refused.json()["message"]
        started = await client.post("/api/v1/bundles/evil/runs", json={})
        assert started.status_code == 404
    assert [p.name for p in (tmp_path / "registry").iterdir()] == []


async def _settled(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    """The run once it is no longer running (polled; a run here ends in well under a second)."""
    with anyio.fail_after(30):
        while True:
            found: dict[str, Any] = (await client.get(f"/api/v1/runs/{run_id}")).json()
            if found["status"] not in ("processing", "pending"):
                return found
            await anyio.sleep(0.05)


def test_says_is_a_plain_flow(tmp_path: Path) -> None:
    # the fixtures' flow runs as a file too: what the bundle tests run is a valid VisualFlow
    path = write_flows(tmp_path, says("main", "hi"))[0]
    ran = cli("run", path, "--json", "--no-store")
    assert _json(ran.stdout)["outputs"] == {"said": "hi", "success": True}, ran.stderr
