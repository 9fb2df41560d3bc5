"""The dashboard's pages and the runs API's additions over plain HTTP (uvicorn on 127.0.0.1, SQLite store):
listing filters, cursors and counts; rerun, resume without an answer, re-run from nodes, workflows, logs;
pages render what the API says; login and cookies; bad input gets a clear 4xx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import flowloom
from _durable import CountExecutor, count_chain
from _server import LiveServer, live_server
from flowloom.nodes import NodeRegistry
from flowloom.server import ServerSettings
from flowloom.stores import SqlStore

pytestmark = pytest.mark.anyio


@pytest.fixture
def counter() -> CountExecutor:
    return CountExecutor()


@pytest.fixture
async def server(tmp_path: Path, counter: CountExecutor, anyio_backend: str) -> AsyncIterator[LiveServer]:
    registry = NodeRegistry.default()
    registry.register(counter)
    engine = flowloom.Engine(registry=registry, store=SqlStore(f"sqlite:///{tmp_path / 'ui.db'}"))
    async with live_server(ServerSettings(), engine) as live:
        yield live


async def finished(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    for _ in range(200):
        found: dict[str, Any] = (await client.get(f"/api/v1/runs/{run_id}")).json()
        if found["status"] in ("succeeded", "failed", "canceled"):
            return found
        await anyio.sleep(0.02)
    raise AssertionError(f"run {run_id} did not end")


async def started(client: httpx.AsyncClient, x: int) -> str:
    response = await client.post("/api/v1/runs", json={"workflow": count_chain(2), "inputs": {"x": x}})
    assert response.status_code == 201, response.text
    run_id = str(response.json()["id"])
    await finished(client, run_id)
    return run_id


async def test_listing_filters_cursors_and_counts(server: LiveServer, counter: CountExecutor) -> None:
    async with server.client() as client:
        ids = [await started(client, x) for x in range(5)]
        counter.fail.add("c1")
        failed = await started(client, 99)
        everything = (await client.get("/api/v1/runs", params={"limit": 2})).json()
        assert [r["id"] for r in everything["runs"]] == [failed, ids[4]]
        assert everything["total"] == 6 and everything["counts"] == {"succeeded": 5, "failed": 1}
        second = (await client.get("/api/v1/runs", params={"limit": 2, "before": everything["next"]})).json()
        assert [r["id"] for r in second["runs"]] == [ids[3], ids[2]]
        several = await client.get("/api/v1/runs?status=failed&status=canceled&q=99")
        assert [r["id"] for r in several.json()["runs"]] == [failed]
        assert several.json()["next"] is None
        workflow = everything["runs"][0]["workflow_hash"]
        assert (await client.get("/api/v1/runs", params={"workflow": workflow})).json()["total"] == 6
        future = (await client.get("/api/v1/runs", params={"from": "2999-01-01T00:00"})).json()
        assert (future["runs"], future["total"]) == ([], 0)
        for query, message in [
            ("status=nope", "unknown status 'nope'"),
            ("before=12", "a cursor is '<created_at>_<run id>'"),
            ("to=tomorrow", "to must be an ISO 8601 time"),
        ]:
            response = await client.get(f"/api/v1/runs?{query}")
            assert response.status_code == 400 and message in response.json()["message"], response.text


async def test_rerun_resume_from_nodes_workflows_and_logs(server: LiveServer, counter: CountExecutor) -> None:
    async with server.client() as client:
        counter.fail.add("c2")
        run_id = await started(client, 1)
        counter.fail.clear()
        rerun = await client.post(f"/api/v1/runs/{run_id}/rerun")
        assert rerun.status_code == 201 and rerun.json()["rerun_of"] == run_id
        assert (await finished(client, rerun.json()["id"]))["status"] == "succeeded"

        resumed = await client.post(f"/api/v1/runs/{run_id}/resume", json={})
        assert resumed.status_code == 200, resumed.text
        assert (await finished(client, run_id))["status"] == "succeeded"  # in place, the same id
        assert counter.ran("c1") == 2  # once per run: the resume kept it

        again = await client.post(f"/api/v1/runs/{run_id}/resume", json={"from_nodes": ["c2"]})
        new = await finished(client, again.json()["id"])
        assert new["status"] == "succeeded" and new["parent_run_id"] == run_id

        for body, status, message in [
            ({"from_nodes": "c2"}, 400, "non-empty list of node ids"),
            ({"from_nodes": ["nope"]}, 400, "nope"),
            ({}, 409, "already succeeded"),
        ]:
            response = await client.post(f"/api/v1/runs/{run_id}/resume", json=body)
            assert response.status_code == status and message in response.json()["message"], response.text

        workflows = (await client.get("/api/v1/workflows")).json()["workflows"]
        assert [(w["runs"], w["input_schema"]["properties"]) for w in workflows] == [
            (3, {"x": {"type": "number"}})
        ]
        digest = workflows[0]["hash"]
        one = await client.post(f"/api/v1/workflows/{digest}/runs", json={"inputs": {"x": 40}})
        assert (await finished(client, one.json()["id"]))["report"]["outputs"] == {"y": 42}
        missing = await client.post("/api/v1/workflows/nope/runs", json={"inputs": {}})
        assert missing.status_code == 404 and "Workflow 'nope' not found" in missing.json()["message"]
        bad = await client.post(f"/api/v1/workflows/{digest}/runs", json={"inputs": [1]})
        assert bad.status_code == 400 and '"inputs" must be a JSON object' in bad.json()["message"]

        logs = await client.get(f"/api/v1/runs/{run_id}/logs", params={"node": "c1"})
        assert logs.json() == {"lines": [], "earlier": None}
        download = await client.get(f"/api/v1/runs/{run_id}/logs", params={"download": "true"})
        assert download.headers["content-disposition"] == f'attachment; filename="{run_id}.log"'
        assert (await client.get("/api/v1/runs/nope/logs")).status_code == 404
        ended = await client.get(f"/api/v1/runs/{run_id}/live")
        assert ended.status_code == 404 and "is not running on this server" in ended.json()["message"]


async def test_pages_render_what_the_api_says(server: LiveServer, counter: CountExecutor) -> None:
    async with server.client() as client:
        counter.fail.add("c1")
        failed = await started(client, 7)
        runs = await client.get("/ui/runs", params={"status": "failed"})
        assert runs.status_code == 200 and f'id="run-{failed}"' in runs.text
        assert 'data-status="failed" aria-pressed="true"' in runs.text
        rows = await client.get("/ui/runs/rows", params={"status": "succeeded"})
        assert "No runs match." in rows.text and "<html" not in rows.text
        page = await client.get(f"/ui/runs/{failed}")
        assert 'id="resume-run"' in page.text and "c1 failed on purpose" in page.text
        assert '"id": "c2"' in page.text or '"id":"c2"' in page.text  # the graph's data
        workflows = await client.get("/ui/workflows")
        assert 'name="x" data-kind="number"' in workflows.text
        nodes = await client.get("/ui/nodes")
        assert 'id="node-type-count"' in nodes.text and 'id="node-type-wait"' in nodes.text
        missing = await client.get("/ui/runs/nope")
        assert missing.status_code == 404 and "Run &#39;nope&#39; not found" in missing.text
        bad = await client.get("/ui/runs", params={"status": "nope"})
        assert bad.status_code == 400 and "unknown status" in bad.text
        static = await client.get("/ui/static/vendor/dagre.LICENSE")
        assert (static.status_code == 200 and "MIT" in static.text) or "Permission" in static.text


async def test_login_cookie_and_redirects(tmp_path: Path) -> None:
    engine = flowloom.Engine(store=SqlStore(f"sqlite:///{tmp_path / 'auth.db'}"))
    async with live_server(ServerSettings(token="tok"), engine) as server, server.client() as client:
        page = await client.get("/ui/runs?status=failed")
        assert (
            page.status_code == 303
            and page.headers["location"] == "/ui/login?next=/ui/runs%3Fstatus%3Dfailed"
        )
        assert (await client.get("/ui/static/ui.css")).status_code == 200  # no data in it
        assert (await client.get("/api/v1/runs")).status_code == 401
        wrong = await client.post("/ui/login", data={"token": "nope", "next": "/ui/runs"})
        assert (
            wrong.status_code == 401
            and "not right" in wrong.text
            and "flowloom_session" not in wrong.headers.get("set-cookie", "")
        )
        elsewhere = await client.post("/ui/login", data={"token": "tok", "next": "https://evil.example/"})
        assert elsewhere.status_code == 303 and elsewhere.headers["location"] == "/ui/runs"
        cookie = elsewhere.cookies["flowloom_session"]
        assert "tok" not in cookie and "httponly" in elsewhere.headers["set-cookie"].lower()
        assert (await client.get("/ui/runs")).status_code == 200  # the client keeps the cookie
        assert (await client.get("/api/v1/runs")).status_code == 200
        logout = await client.post("/ui/logout")
        assert logout.status_code == 303
        assert (await client.get("/api/v1/runs")).status_code == 401
        assert (await client.get("/api/v1/runs", headers={"Authorization": "Bearer tok"})).status_code == 200


async def test_without_a_store_the_runs_page_lists_what_this_server_ran(anyio_backend: str) -> None:
    async with live_server(ServerSettings(), flowloom.Engine()) as server, server.client() as client:
        created = await client.post("/api/v1/runs", json={"workflow": count_chain(0), "inputs": {"x": 1}})
        page = await client.get("/ui/runs")
        assert page.status_code == 200 and f'id="run-{created.json()["id"]}"' in page.text
        workflows = await client.get("/ui/workflows")
        assert workflows.status_code == 409 and "has no store" in workflows.text
