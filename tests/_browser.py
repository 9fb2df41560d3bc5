"""A real headless Chromium for the dashboard's tests: Debian's ``chromium`` (``scripts/chromium.sh`` installs
it with apt-get when it is missing), driven by Playwright through ``executable_path``; no browser download.

    from _browser import browser_page, browser_path  # noqa: F401  (the fixtures page, browser_path)
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "chromium.sh"


@pytest.fixture(scope="session")
def browser_path() -> str:
    done = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        pytest.fail(f"cannot install Chromium (scripts/chromium.sh):\n{done.stderr}", pytrace=False)
    return done.stdout.strip()


@pytest.fixture(name="page")
async def browser_page(browser_path: str, anyio_backend: str) -> AsyncIterator[Page]:
    """A fresh browser page (its own cookies), 1280 px wide."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=browser_path, args=["--disable-gpu"])
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            page.set_default_timeout(15_000)
            yield page
        finally:
            await browser.close()
