"""The dashboard's routes: runs (filters in the URL, live rows, bulk actions), one run (graph, Gantt, node
panel, actions), workflows (a run form from each start schema), node types, and the login form."""

from __future__ import annotations

import datetime as dt
import hmac
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

import jinja2
from fastapi import APIRouter, FastAPI, Query, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from flowloom.ir import Status

from .._security import SESSION_COOKIE, session_value
from ._api import ApiCallError, RunsApi
from ._forms import form_fields
from ._graph import graph_of

_HERE = Path(__file__).parent
_PAGE_SIZES = (25, 50, 100, 200)
_FILTERS = ("workflow", "from", "to", "q")
_TITLES_TTL_S = 10.0
_TERMINATED = {str(s) for s in Status if s.terminated}


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"), autoescape=True, trim_blocks=True
    )
    env.filters["when"] = _when
    env.filters["duration"] = _duration
    return env


def _when(iso: str | None) -> str:
    return "" if not iso else iso.replace("T", " ").removesuffix("Z")[:19]


def _seconds(iso: str | None) -> float | None:
    return None if not iso else dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _duration(run: dict[str, Any]) -> str:
    start, end = _seconds(run.get("started_at")), _seconds(run.get("ended_at"))
    if start is None:
        return ""
    if end is None:
        return "running"
    took = end - start
    return f"{took * 1000:.0f} ms" if took < 1 else f"{took:.1f} s" if took < 120 else f"{took / 60:.1f} min"


def mount_ui(app: FastAPI, token: str | None) -> None:
    """Serve the dashboard under ``/ui`` of ``app`` (its static files under ``/ui/static``)."""
    app.include_router(ui_router(app, token))
    app.mount("/ui/static", StaticFiles(directory=_HERE / "static"), name="ui-static")


def ui_router(app: FastAPI, token: str | None) -> APIRouter:
    router = APIRouter(prefix="/ui", include_in_schema=False)
    env = _environment()
    api = RunsApi(app, token)

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("auth", token is not None)
        return HTMLResponse(env.get_template(name).render(**context), status)

    def failure(exc: ApiCallError) -> HTMLResponse:
        return page("error.html", exc.status, title="Error", message=str(exc))

    @router.get("")
    async def home() -> Response:
        return RedirectResponse("/ui/runs", 303)

    # login -----------------------------------------------------------------------------------------------

    @router.get("/login")
    async def login_form(next: str = "/ui/runs") -> Response:
        if token is None:
            return RedirectResponse("/ui/runs", 303)
        return page("login.html", title="Sign in", next=_local(next), problem=None, auth=False)

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        given = (form.get("token") or [""])[-1]
        target = _local((form.get("next") or ["/ui/runs"])[-1])
        if token is None:
            return RedirectResponse(target, 303)
        if not hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8")):
            return page(
                "login.html",
                401,
                title="Sign in",
                next=target,
                problem="That token is not right.",
                auth=False,
            )
        response = RedirectResponse(target, 303)
        response.set_cookie(SESSION_COOKIE, session_value(token), httponly=True, samesite="strict", path="/")
        return response

    @router.post("/logout")
    async def logout() -> Response:
        response = RedirectResponse("/ui/login", 303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # runs ------------------------------------------------------------------------------------------------

    titles: dict[str, str] = {}
    titles_at = -_TITLES_TTL_S

    async def workflow_titles() -> dict[str, str]:
        """The workflows' titles for the filter and the rows: their listing counts every run, so the
        runs page (refreshed every few seconds) reads it at most every ``_TITLES_TTL_S``."""
        nonlocal titles, titles_at
        if time.monotonic() - titles_at >= _TITLES_TTL_S:
            try:
                found = (await api.get("/workflows"))["workflows"]
            except ApiCallError as exc:
                if exc.status != 409:  # 409: a server without a store keeps no workflows
                    raise
                found = []
            titles = {w["hash"]: w["title"] for w in found}
            titles_at = time.monotonic()
        return titles

    async def runs_context(request: Request) -> dict[str, Any]:
        params = request.query_params
        statuses = [s for given in params.getlist("status") for s in given.split(",") if s]
        filters = {name: params.get(name, "") for name in _FILTERS}
        limit = params.get("limit", "50")
        query: list[tuple[str, str]] = [("status", s) for s in statuses]
        query += [(name, value) for name, value in filters.items() if value]
        query += [("limit", limit)]
        before = params.get("before")
        found = await api.get("/runs", [*query, *([("before", before)] if before else [])])
        workflows = await workflow_titles()

        def toggled(status: str) -> str:
            chosen = [s for s in statuses if s != status] if status in statuses else [*statuses, status]
            rest = [(n, v) for n, v in query if n != "status"]
            return "/ui/runs?" + urlencode([*(("status", s) for s in chosen), *rest])

        return {
            "runs": found["runs"],
            "counts": found["counts"],
            "total": found["total"],
            "next_url": "/ui/runs?" + urlencode([*query, ("before", found["next"])])
            if found["next"]
            else None,
            "first_url": "/ui/runs?" + urlencode(query) if before else None,
            "statuses": statuses,
            "all_statuses": [str(s) for s in Status if s is not Status.SKIPPED],  # a node status only
            "toggled": toggled,
            "filters": filters,
            "limit": limit,
            "page_sizes": _PAGE_SIZES,
            "workflows": workflows,
            "terminated": _TERMINATED,
            "self_url": str(request.url.path) + ("?" + request.url.query if request.url.query else ""),
        }

    @router.get("/runs")
    async def runs_page(request: Request) -> Response:
        try:
            context = await runs_context(request)
        except ApiCallError as exc:
            return failure(exc)
        return page("runs.html", title="Runs", **context)

    @router.get("/runs/rows")
    async def runs_rows(request: Request) -> Response:
        """The runs table alone, for live refreshes (the same filters as the page)."""
        try:
            context = await runs_context(request)
        except ApiCallError as exc:
            return failure(exc)
        return page("_runs_table.html", **context)

    async def run_context(run_id: str) -> dict[str, Any]:
        run = await api.get(f"/runs/{run_id}")
        workflow = None
        if run.get("workflow_hash"):
            workflow = await api.get(f"/workflows/{run['workflow_hash']}")
        report = run.get("report") or {}
        return {
            "run": run,
            "inputs": report.get("inputs", {}),
            "outputs": report.get("outputs", {}),
            "open_waits": [w for w in run.get("waits", []) if w.get("status") == "open"],
            "workflow": workflow,
            "graph": graph_of(workflow["workflow"]) if workflow else {"nodes": [], "edges": []},
            "terminated": _TERMINATED,
        }

    @router.get("/runs/{run_id}")
    async def run_page(request: Request, run_id: str) -> Response:
        try:
            context = await run_context(run_id)
        except ApiCallError as exc:
            return failure(exc)
        origin = f"{request.url.scheme}://{request.url.netloc}"
        return page("run.html", title=f"Run {run_id[:8]}", origin=origin, **context)

    @router.get("/runs/{run_id}/header")
    async def run_header(request: Request, run_id: str) -> Response:
        try:
            context = await run_context(run_id)
        except ApiCallError as exc:
            return failure(exc)
        origin = f"{request.url.scheme}://{request.url.netloc}"
        return page("_run_header.html", origin=origin, **context)

    # workflows and node types ----------------------------------------------------------------------------

    @router.get("/workflows")
    async def workflows_page(workflow: Annotated[str | None, Query()] = None) -> Response:
        try:
            found = (await api.get("/workflows"))["workflows"]
        except ApiCallError as exc:
            return failure(exc)
        for item in found:
            item["fields"] = form_fields(item["input_schema"])
        return page("workflows.html", title="Workflows", workflows=found, chosen=workflow)

    @router.get("/nodes")
    async def nodes_page() -> Response:
        try:
            found = (await api.get("/nodes"))["nodes"]
        except ApiCallError as exc:
            return failure(exc)
        return page(
            "nodes.html", title="Node types", nodes=sorted(found, key=lambda n: (n["category"], n["type"]))
        )

    return router


def _local(target: str) -> str:
    """Where a login may send the browser: a dashboard path of this server, never another site."""
    return target if target.startswith("/ui") and "//" not in target and "\\" not in target else "/ui/runs"
