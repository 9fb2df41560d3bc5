"""The bundles API under ``/api/v1/bundles``: upload a ``.flow`` bundle (the request body is the zip),
list the installed bundles and their entrypoints, show or remove one, and start a run of an entrypoint by
reference (``id``, ``id@version``, ``id:flow``, ``id@version:flow`` or an entrypoint's name). The registry
folder is ``ServerSettings.bundles_dir``. Reading bundles is file work: it runs in a worker thread."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from flowloom.bundles import (
    BundleError,
    BundleFlows,
    BundleInstalledError,
    BundleNotFoundError,
    WorkflowBundleRegistry,
    bundle_run_metadata,
)
from flowloom.engine import Engine, InvalidWorkflowError

from ._errors import ApiError, json_response, not_found, read_json
from ._registry import RunRegistry
from ._upstream import ErrorOutput

_VISUALFLOW = "visualflow"


class StartEntrypointInput(BaseModel):
    inputs: dict[str, Any] = {}


def bundles_router(registry: RunRegistry, engine: Engine, bundles: WorkflowBundleRegistry) -> APIRouter:
    router = APIRouter(
        prefix="/api/v1/bundles",
        tags=["bundles"],
        responses={400: {"model": ErrorOutput}, 404: {"model": ErrorOutput}, 409: {"model": ErrorOutput}},
    )

    @router.post(
        "",
        status_code=201,
        response_model=None,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
        summary="Install a .flow bundle: the request body is the zip. ?overwrite=true replaces a version.",
    )
    async def install(request: Request, overwrite: bool = False) -> Response:
        """201 with the installed bundle; 400 when the bundle is refused (its manifest, an unsafe or
        oversized member, an unsafe id or version); 409 when that version is installed already."""
        content = await request.body()
        try:
            installed = await anyio.to_thread.run_sync(
                lambda: bundles.install_bytes(content, overwrite=overwrite)
            )
        except BundleInstalledError as exc:
            raise ApiError(409, "CONFLICT", str(exc)) from exc
        except BundleError as exc:
            raise ApiError(400, "INVALID_BUNDLE", str(exc)) from exc
        location = f"/api/v1/bundles/{installed.ref}"
        return json_response({"installed": installed.to_json()}, 201, {"Location": location})

    @router.get("", response_model=None, summary="The installed bundles (every version) and entrypoints.")
    async def list_bundles() -> Response:
        """``bundles``: every installed version; ``entrypoints``: those of each bundle's latest version,
        each with the ``workflow_id`` that starts it."""

        def read() -> dict[str, Any]:
            return {
                "bundles": [bundle.to_json() for bundle in bundles.scan()],
                "entrypoints": [entry.to_json() for entry in bundles.list_entrypoints()],
            }

        return json_response(await anyio.to_thread.run_sync(read))

    @router.get("/{ref}", response_model=None, summary="An installed bundle's manifest (id or id@version).")
    async def show(ref: str) -> Response:
        try:
            found = await anyio.to_thread.run_sync(lambda: bundles.resolve_bundle(ref))
        except BundleNotFoundError as exc:
            raise not_found(str(exc)) from exc
        except BundleError as exc:
            raise ApiError(400, "BAD_REQUEST", str(exc)) from exc
        return json_response({**found.to_json(), "manifest": found.manifest.to_json()})

    @router.delete("/{ref}", response_model=None, summary="Remove id@version, or every version of id.")
    async def remove(ref: str) -> Response:
        removed = await anyio.to_thread.run_sync(lambda: bundles.remove(ref))
        if removed == 0:
            raise not_found(f"bundle {ref!r} is not installed")
        return json_response({"removed": removed})

    @router.post(
        "/{ref}/runs",
        status_code=201,
        response_model=None,
        openapi_extra={
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": StartEntrypointInput.model_json_schema()}},
            }
        },
        summary='Start a run of an installed entrypoint: {"inputs": {...}}.',
    )
    async def start(request: Request, ref: str) -> Response:
        """201 with the run (follow it under ``/api/v1/runs/{id}``); 404 for a reference that names no
        installed entrypoint; 400 for a flow that does not compile or a bad body."""
        body = await read_json(request) if await request.body() else {}
        if not isinstance(body, dict) or not isinstance(body.get("inputs", {}), dict):
            raise ApiError(400, "BAD_REQUEST", 'the body must be a JSON object {"inputs": {...}}')
        try:
            entry = await anyio.to_thread.run_sync(lambda: bundles.resolve_entrypoint(ref))
            opened = await anyio.to_thread.run_sync(entry.open)
            document = await anyio.to_thread.run_sync(
                lambda: BundleFlows(opened).with_subflows(entry.flow_id)
            )
        except BundleNotFoundError as exc:
            raise not_found(str(exc)) from exc
        except BundleError as exc:  # an ambiguous name, a bundle that no longer opens, a missing flow file
            raise ApiError(400, "INVALID_BUNDLE", str(exc)) from exc
        try:
            compiled = engine.load(document, format=_VISUALFLOW)
        except InvalidWorkflowError as exc:
            message = f"invalid workflow {entry.workflow_id}: {'; '.join(exc.errors)}"
            raise ApiError(400, "INVALID_WORKFLOW", message) from exc
        metadata = bundle_run_metadata(opened, entry.flow_id)
        run = registry.start(compiled, body.get("inputs", {}), metadata=metadata)
        await run.recorded()
        return json_response(
            {"id": run.id, "status": str(run.status), "workflow_id": entry.workflow_id},
            201,
            {"Location": f"/api/v1/runs/{run.id}"},
        )

    return router
