"""browser.render of inline HTML, warm, against Playwright's own ``page.set_content`` + ``inner_text`` on
the same system Chromium in the same run (target: <= 1.5x).

    uv run python bench/browser.py [--quick]

Each side renders the same page in mode ``text`` with no script wait, after a warm-up; the node's side is
a whole run (start, the node in a fresh browser context, its outputs) on an engine whose browser is
already launched; Playwright's side is a fresh page in a fresh context on an already launched browser, so
both pay for the context. Reported: the median of the timed runs."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import flowloom
from _heavy import heavy_node, workflow
from flowloom.nodes.browser import Chromium
from flowloom.nodes.browser._chromium import VIEWPORT, chromium_executable

HTML = (
    "<html><body><h1>Hello</h1><ul>"
    + "".join(f"<li>item {i}</li>" for i in range(50))
    + "</ul></body></html>"
)


async def bare(repeats: int) -> list[float]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_executable(), headless=True, args=["--no-sandbox"]
        )
        times = []
        for i in range(repeats + 1):
            started = time.perf_counter()
            context = await browser.new_context(viewport=VIEWPORT)
            page = await context.new_page()
            await page.set_content(HTML)
            text = await page.inner_text("body")
            await context.close()
            if i:
                times.append(time.perf_counter() - started)
            assert "item 49" in text
        await browser.close()
    return times


async def node(repeats: int) -> list[float]:
    chromium = Chromium()
    engine = flowloom.Engine(services=flowloom.Services(browser=flowloom.Lazy.of(chromium)))
    render = heavy_node("b", "browser.render", {"html": HTML, "mode": "text", "wait_ms": 0})
    compiled = engine.load(workflow(render))
    times = []
    for i in range(repeats + 1):
        started = time.perf_counter()
        run = await engine.run(compiled)
        if i:
            times.append(time.perf_counter() - started)
        assert run.status == "succeeded", run.report().to_json()
    await engine.aclose()
    await chromium.aclose()
    return times


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    repeats = 5 if parser.parse_args().quick else 30
    bare_s = statistics.median(await bare(repeats))
    node_s = statistics.median(await node(repeats))
    ratio = node_s / bare_s
    verdict = "ok" if ratio <= 1.5 else "MISS"
    print(f"browser.render warm, inline HTML (text): {node_s * 1000:.1f} ms/run")
    print(f"playwright set_content + inner_text:      {bare_s * 1000:.1f} ms/page")
    print(f"ratio {ratio:.2f}x (target <= 1.5x) {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
