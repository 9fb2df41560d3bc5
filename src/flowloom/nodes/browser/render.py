"""``browser.render``: a page (``url``, or ``html``) rendered by a real headless Chromium; its DOM after
scripts ran, its rendered text, or a screenshot (base64 PNG, 1280x720). With ``zypi_url`` it renders as
flowengine does, with a ``chromium`` command run through Zypi."""

from __future__ import annotations

import base64
import shlex
import time
from typing import Any, ClassVar

from flowloom.engine import NodeContext, NodeError, NodeResult

from .._kit import Key, KitNode, failed, inputs_of, metadata, time_limit, wrong_input
from ..sandboxes import _zypi
from ._chromium import Chromium

MODES = ("dom", "text", "screenshot")
_TEXT = "() => document.body ? document.body.innerText : document.documentElement.innerText"


class BrowserRenderExecutor(KitNode):
    type: ClassVar[str] = "browser.render"
    keys: ClassVar[tuple[Key, ...]] = (
        Key(name="url", types=("string",), description="the page to load"),
        Key(name="html", types=("string",), description="the page's HTML (when there is no url)"),
        Key(
            name="mode",
            types=("string",),
            default="dom",
            choices=MODES,
            fold=str.lower,
            description="dom, text or screenshot",
        ),
        Key(name="wait_ms", types=("number",), default=1000, description="ms of page time for scripts"),
        Key(name="memory_mb", types=("number",), default=512, description="memory (Zypi)"),
        Key(name="timeout", types=("number",), default=30, description="seconds for the whole render"),
        Key(name="zypi_url", types=("string",), description="render through this Zypi server"),
        Key(name="image", types=("string",), default="ubuntu:24.04", description="Zypi's image"),
    )
    metadata = metadata(
        category="browser",
        description=(
            "Renders a page (url or html) in a real headless Chromium: its DOM after scripts ran, its "
            "text, or a base64 PNG screenshot (1280x720)."
        ),
        keys=keys,
        inputs=("url", "html"),
        outputs=("output", "stdout", "duration_ms"),
    )

    async def execute(self, ctx: NodeContext) -> NodeResult:
        config = self.config(ctx)
        inputs = inputs_of(ctx)
        url, html = (_page_source(name, inputs, config) for name in ("url", "html"))
        if url is None and html is None:
            raise NodeError("Configuration error: browser.render needs a url or html (config or input)")
        mode = str(config["mode"]).lower()
        started = time.monotonic()
        if config.get("zypi_url"):
            output = await _through_zypi(ctx, config, url, html, mode)
        else:
            browser = _browser(ctx)
            with time_limit(config["timeout"]):
                output = await render(browser, url=url, html=html, mode=mode, wait_ms=config["wait_ms"])
        duration_ms = round((time.monotonic() - started) * 1000)
        return NodeResult(outputs={"output": output, "stdout": output, "duration_ms": duration_ms})


def _page_source(name: str, inputs: dict[str, Any], config: dict[str, Any]) -> str | None:
    value = inputs.get(name)
    if value is None:
        value = config.get(name)
    if value is not None and not isinstance(value, str):
        raise wrong_input(name, "string", value)
    return value or None


def _browser(ctx: NodeContext) -> Chromium:
    lazy = ctx.services.browser
    if lazy is None:
        raise NodeError("Execution failed: no browser is configured for this engine")
    browser = lazy.get()
    assert isinstance(browser, Chromium)
    return browser


async def render(browser: Chromium, *, url: str | None, html: str | None, mode: str, wait_ms: float) -> str:
    """The page as ``mode`` asks, after ``wait_ms`` ms for its scripts."""
    from playwright.async_api import Error

    async with browser.page() as page:
        try:
            if url is not None:
                await page.goto(url, wait_until="load")
            else:
                await page.set_content(html or "", wait_until="load")
            if wait_ms > 0:
                await page.wait_for_timeout(float(wait_ms))
            if mode == "text":
                return str(await page.evaluate(_TEXT))
            if mode == "screenshot":
                return base64.b64encode(await page.screenshot(type="png")).decode("ascii")
            return str(await page.content())
        except Error as exc:
            raise failed(f"Browser render failed: {exc.message}") from exc


async def _through_zypi(
    ctx: NodeContext, config: dict[str, Any], url: str | None, html: str | None, mode: str
) -> str:
    """flowengine's way: a ``chromium`` command in a Zypi sandbox, the page injected as a file."""
    target = shlex.quote(url) if url is not None else "file:///tmp/page.html"
    flags = "--headless --no-sandbox --disable-gpu"
    budget = f"--virtual-time-budget={int(config['wait_ms'])}"
    if mode == "screenshot":
        command = (
            f"chromium {flags} {budget} --window-size=1280,720 --screenshot=/tmp/shot.png {target} "
            ">/dev/null 2>&1 && base64 -w0 /tmp/shot.png"
        )
    elif mode == "text":
        command = f"chromium {flags} {budget} --dump-dom {target} | sed -e 's/<[^>]*>//g'"
    else:
        command = f"chromium {flags} {budget} --dump-dom {target}"
    body: dict[str, Any] = {
        "cmd": ["/bin/sh", "-c", command],
        "image": config["image"],
        "timeout": config["timeout"],
        "memory_mb": config["memory_mb"],
    }
    if url is None:
        body["files"] = {"/tmp/page.html": html or ""}
    done = await _zypi.execute(ctx, config["zypi_url"], body, session_id=None, timeout_s=config["timeout"])
    if done["exit_code"] != 0:
        raise failed(f"Browser render failed (exit {done['exit_code']}): {done['stderr']}")
    return str(done["stdout"])
