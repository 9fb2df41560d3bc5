"""browser.render in a real headless Chromium (the system's, installed by scripts/chromium.sh): one
browser for the engine, kept warm across nodes, closed with it."""

from __future__ import annotations

import base64
import struct
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import flowloom
from _heavy import heavy_node, refusal, run_nodes, workflow
from flowloom.testing import HttpEchoServer, ZypiMockServer

pytestmark = pytest.mark.anyio

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
PAGE = (
    "<html><head><title>T</title></head><body><h1>Hello</h1><p id='p'>x</p><script>"
    "document.getElementById('p').textContent = 'changed by js';"
    "setTimeout(function () { document.body.insertAdjacentHTML('beforeend', '<div>late text</div>'); }, 300);"
    "</script></body></html>"
)


@pytest.fixture(scope="module")
def chromium() -> str:
    done = subprocess.run([SCRIPTS / "chromium.sh"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
async def engine(chromium: str) -> AsyncIterator[flowloom.Engine]:
    engine = flowloom.Engine()
    yield engine
    await engine.aclose()


def png_size(encoded: str) -> tuple[int, int]:
    raw = base64.b64decode(encoded)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", raw[16:24])
    return width, height


async def test_modes_inputs_and_one_warm_browser(engine: flowloom.Engine) -> None:
    async with HttpEchoServer() as echo:
        document = workflow(
            heavy_node("dom", "browser.render", {"html": PAGE, "wait_ms": 800}),
            heavy_node("text", "browser.render", {"html": PAGE, "mode": "text", "wait_ms": 0}),
            heavy_node(
                "shot", "browser.render", {"mode": "screenshot", "wait_ms": 0}, html="<body>shot</body>"
            ),
            heavy_node(
                "url", "browser.render", {"mode": "TEXT", "wait_ms": 0}, url=f"{echo.base_url}/page?x=1"
            ),
        )
        found = await run_nodes(engine, document)
    dom = found["dom"]["outputs"]
    assert dom["output"] == dom["stdout"]
    assert all(part in dom["output"] for part in ("<h1>Hello</h1>", "changed by js", "late text"))
    text = found["text"]["outputs"]["output"]
    assert "Hello" in text and "changed by js" in text
    assert "<h1>" not in text and "getElementById" not in text
    assert png_size(found["shot"]["outputs"]["output"]) == (1280, 720)
    assert '"path":"/page"' in found["url"]["outputs"]["output"]
    browser = engine.services.browser
    assert browser is not None and browser.made  # one browser served all four nodes
    first = browser.get()
    await run_nodes(
        engine, workflow(heavy_node("again", "browser.render", {"html": "<p>x</p>", "wait_ms": 0}))
    )
    assert browser.get() is first


async def test_bad_inputs_fail_the_node_naming_them(engine: flowloom.Engine) -> None:
    document = workflow(
        heavy_node("nothing", "browser.render", {"mode": "text"}),
        heavy_node("number", "browser.render", {"mode": "text"}, html=5),
        heavy_node("slow", "browser.render", {"html": "<p/>", "wait_ms": 5000, "timeout": 0.5}),
    )
    found = await run_nodes(engine, document)
    assert "url" in found["nothing"]["error"] and "html" in found["nothing"]["error"]
    assert refusal(engine, heavy_node("mode", "browser.render", {"html": "<p/>", "mode": "pdf"})) == [
        'node "mode": config key "mode" is "pdf", expected one of dom, text, screenshot'
    ]
    assert found["number"]["error"] == "Invalid input type for 'html': expected string, got number"
    assert found["slow"]["error"] == "Timeout after 0.5s"


async def test_the_zypi_variant_sends_flowengines_chromium_command(engine: flowloom.Engine) -> None:
    async with ZypiMockServer() as zypi:
        document = workflow(
            heavy_node("b", "browser.render", {"zypi_url": zypi.base_url, "html": "<p>hi</p>"})
        )
        found = await run_nodes(engine, document)
    import json

    sent = json.loads(found["b"]["outputs"]["output"])
    assert sent["path"] == "/exec"
    assert sent["body"]["cmd"][:2] == ["/bin/sh", "-c"] and "--dump-dom" in sent["body"]["cmd"][2]
    assert sent["body"]["files"] == {"/tmp/page.html": "<p>hi</p>"}
    assert (sent["body"]["memory_mb"], sent["body"]["timeout"]) == (512, 30)
