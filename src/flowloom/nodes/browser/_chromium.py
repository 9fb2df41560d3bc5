"""``Chromium``: one headless browser for an engine, launched on first use through Playwright from the
system's Chromium (never a downloaded one), shared by every ``browser.render`` node, closed with the
engine (``Services.aclose``). Each render gets a fresh browser context (no cookies or storage shared)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from flowloom.engine import NodeError

VIEWPORT = {"width": 1280, "height": 720}
_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def chromium_executable() -> str | None:
    """``$FLOWLOOM_CHROMIUM``, else the system's Chromium."""
    given = os.environ.get("FLOWLOOM_CHROMIUM")
    if given:
        return given
    for candidate in _CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


class Chromium:
    """A lazily launched headless Chromium. ``page()`` gives a page in a fresh context."""

    def __init__(self, executable: str | None = None) -> None:
        self._executable = executable
        self._lock = anyio.Lock()
        self._playwright: Any = None
        self._browser: Any = None
        self._closed = False

    async def _launch(self) -> Any:
        async with self._lock:
            if self._closed:
                raise NodeError("Execution failed: the browser was closed with its engine")
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            executable = self._executable or chromium_executable()
            if executable is None:
                raise NodeError(
                    "Execution failed: no Chromium found (install it: scripts/chromium.sh, or set "
                    "FLOWLOOM_CHROMIUM to its path)"
                )
            from playwright.async_api import Error, async_playwright

            try:
                if self._playwright is None:
                    self._playwright = await async_playwright().start()
                self._browser = await self._playwright.chromium.launch(
                    executable_path=executable,
                    headless=True,
                    args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
                )
            except Error as exc:
                raise NodeError(f"Execution failed: cannot start Chromium ({executable}): {exc}") from exc
            return self._browser

    @asynccontextmanager
    async def page(self) -> AsyncIterator[Any]:
        browser = await self._launch()
        context = await browser.new_context(viewport=VIEWPORT)
        try:
            yield await context.new_page()
        finally:
            with anyio.CancelScope(shield=True):
                await context.close()

    async def aclose(self) -> None:
        async with self._lock:
            self._closed = True
            browser, self._browser = self._browser, None
            playwright, self._playwright = self._playwright, None
            with anyio.CancelScope(shield=True):
                if browser is not None:
                    await browser.close()
                if playwright is not None:
                    await playwright.stop()
