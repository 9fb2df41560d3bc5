"""``FlowClient``: flowengine's Python client of its REST server, talking to ``flowloom serve`` (which
answers flowengine's API beside its own). Synchronous, on httpx; an HTTP error raises ``FlowClientError``
with the server's own message."""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from flowloom.ir import FlowloomError

_SHORT_S = 10.0
_EXECUTE_S = 300.0  # a run answers when it ends


class FlowClientError(FlowloomError):
    """A request the server refused or could not answer: ``status`` (``None``: no answer at all) and the
    server's message (its ``error``)."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class FlowClient:
    """A client of flowengine's REST API, as ``flowloom serve`` answers it::

        client = FlowClient("http://127.0.0.1:4000")
        result = client.execute(workflow, {"url": "https://example.org"})  # the result object

    ``token``: the server's bearer token (``flowloom serve --token``), if it asks for one."""

    def __init__(
        self,
        base_url: str = "http://localhost:3000",
        *,
        token: str | None = None,
        timeout: float = _SHORT_S,
        execute_timeout: float = _EXECUTE_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.execute_timeout = execute_timeout
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def health(self) -> dict[str, Any]:
        """``{"status": "healthy", "version", "service"}``."""
        found: dict[str, Any] = self._call("GET", "/health")
        return found

    def list_nodes(self) -> list[dict[str, Any]]:
        """Every node type the server runs: ``[{"type", "category", "description"}]``."""
        found: list[dict[str, Any]] = self._call("GET", "/api/nodes")
        return found

    def list_workflows(self) -> list[dict[str, Any]]:
        """The saved workflows' summaries (``id``, ``name``, ``description``, node and connection counts)."""
        found: list[dict[str, Any]] = self._call("GET", "/api/workflows")
        return found

    def create_workflow(self, workflow: dict[str, Any]) -> str:
        """Save a workflow (its ``id``, or one the server makes) and return its id. An invalid workflow
        raises ``FlowClientError`` (400) naming node and field."""
        return str(self._call("POST", "/api/workflows", json=workflow)["id"])

    def get_workflow(self, workflow_id: str) -> dict[str, Any]:
        """A saved workflow as it was saved (``FlowClientError`` 404 when there is none)."""
        found: dict[str, Any] = self._call("GET", f"/api/workflows/{_segment(workflow_id)}")
        return found

    def delete_workflow(self, workflow_id: str) -> dict[str, Any]:
        """Forget a saved workflow: it can no longer be executed."""
        found: dict[str, Any] = self._call("DELETE", f"/api/workflows/{_segment(workflow_id)}")
        return found

    def execute_saved(self, workflow_id: str, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a saved workflow to its end and return the result object (a failed run too)."""
        path = f"/api/workflows/{_segment(workflow_id)}/execute"
        body = {"inputs": inputs or {}}
        found: dict[str, Any] = self._call("POST", path, json=body, timeout=self.execute_timeout)
        return found

    def execute(self, workflow: dict[str, Any], inputs: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a workflow (not saved) to its end and return the result object: ``{run_id, status, outputs,
        nodes, error}``; a failed run is a result too (``status`` failed), not an exception."""
        body = {"workflow": workflow, "inputs": inputs or {}}
        found: dict[str, Any] = self._call("POST", "/api/execute", json=body, timeout=self.execute_timeout)
        return found

    async def execute_async(
        self, workflow: dict[str, Any], inputs: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """``execute`` from async code (in a worker thread)."""
        import anyio.to_thread

        return await anyio.to_thread.run_sync(self.execute, workflow, inputs)

    def execute_file(self, workflow_path: str | Path, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
        """``execute`` of a workflow JSON file."""
        document = json.loads(Path(workflow_path).read_text(encoding="utf-8"))
        return self.execute(document, inputs)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FlowClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _call(self, method: str, path: str, *, json: Any = None, timeout: float | None = None) -> Any:
        url = self.base_url + path
        options: dict[str, Any] = {"json": json} if json is not None else {}
        if timeout is not None:
            options["timeout"] = timeout
        try:
            response = self._http.request(method, path, **options)
        except httpx.TimeoutException:
            raise FlowClientError(f"{method} {url}: no answer in time", url=url) from None
        except httpx.HTTPError as exc:
            raise FlowClientError(f"Cannot connect to {self.base_url}: {exc}", url=url) from None
        try:
            found = response.json()
        except ValueError:
            found = None
        if response.is_error:
            raise FlowClientError(
                f"{method} {path}: {response.status_code} {_message(found, response)}",
                status=response.status_code,
                url=url,
            )
        if found is None:
            status = response.status_code
            raise FlowClientError(f"{method} {path}: the answer is not JSON", status=status, url=url)
        return found


def _message(body: Any, response: httpx.Response) -> str:
    """The server's own words: flowengine's ``error``, flowloom's ``message``, else the status text."""
    if isinstance(body, dict):
        for key in ("error", "message"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return response.reason_phrase or "error"


def _segment(workflow_id: str) -> str:
    """An id as one path segment (``/`` and ``?`` in it cannot reach another route)."""
    return quote(workflow_id, safe="")
