"""The dashboard reads what it shows through the public runs API, called in process (no network hop): the
pages show exactly what the API says, with its errors."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.types import ASGIApp

from flowloom.engine import FlowloomError


class ApiCallError(FlowloomError):
    """The runs API refused a call the dashboard made: its status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class RunsApi:
    """GETs on ``/api/v1`` of ``app`` as the server's own client (with its token, if it has one)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://flowloom", headers=headers
        )

    async def get(self, path: str, params: Any = None) -> Any:
        response = await self._client.get(f"/api/v1{path}", params=params)
        if response.status_code != 200:
            try:
                message = str(response.json().get("message", response.text))
            except ValueError:
                message = response.text
            raise ApiCallError(response.status_code, message)
        return response.json()

    async def aclose(self) -> None:
        await self._client.aclose()
