"""The dashboard in a real headless Chromium (Playwright over Debian's chromium) against uvicorn on
127.0.0.1 with a SQLite store: runs started from the UI turn green live, errors show on their node, cancel,
resume and answering a wait work from the UI, filters live in the URL, rows update live, token auth holds.
Screenshots of the runs page and a run page go to docs/."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import anyio
import pytest
from playwright.async_api import Page, expect

import flowloom
from _browser import browser_page, browser_path  # noqa: F401
from _durable import CountExecutor, count_chain, count_loop
from _server import LiveServer, live_server
from _waits import approval
from _workflows import chain as chain_of
from _workflows import end, start
from _workflows import node as wf_node
from flowloom.ir import LLMDelta, NodeProgress, Status
from flowloom.nodes import NodeRegistry
from flowloom.server import ServerSettings
from flowloom.stores import SqlStore

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = (ROOT / "examples" / "quickstart.json").read_text()
QUICKSTART_INPUTS = json.loads((ROOT / "examples" / "quickstart.inputs.json").read_text())
DOCS = ROOT / "docs"
TOKEN = "s3cret-token"


@pytest.fixture
def counter() -> CountExecutor:
    return CountExecutor()


class Chatty:
    """``chatty``: logs ``data.lines`` lines, waits for ``release``, streams tokens and progress, waits
    for ``finish``, then logs ``done``."""

    type: ClassVar[str] = "chatty"

    def __init__(self) -> None:
        self.release = anyio.Event()
        self.finish = anyio.Event()

    async def execute(self, ctx: flowloom.NodeContext) -> flowloom.NodeResult:
        for i in range(ctx.data["lines"]):
            ctx.log(f"line {i}", "stderr" if i % 50 == 49 else "stdout")
        await self.release.wait()
        for piece in ("Hel", "lo!"):  # tokens and progress: live-only, not in the store
            ctx.emit_node_event(LLMDelta, text=piece)
        ctx.emit_node_event(NodeProgress, done=1, total=2, message="half")
        await self.finish.wait()
        ctx.log("done")
        return flowloom.NodeResult(outputs={})


@pytest.fixture
def chatty() -> Chatty:
    return Chatty()


class Flaky:
    """``flaky``: fails its first ``data.failures`` calls, then succeeds."""

    type: ClassVar[str] = "flaky"

    def __init__(self) -> None:
        self.calls = 0

    async def execute(self, ctx: flowloom.NodeContext) -> flowloom.NodeResult:
        self.calls += 1
        if self.calls <= ctx.data["failures"]:
            raise flowloom.NodeError(f"flaky call {self.calls} failed")
        return flowloom.NodeResult(outputs={})


@pytest.fixture
async def server(
    tmp_path: Path, counter: CountExecutor, chatty: Chatty, anyio_backend: str
) -> AsyncIterator[LiveServer]:
    registry = NodeRegistry.default()
    registry.register(counter)
    registry.register(chatty)
    registry.register(Flaky())
    engine = flowloom.Engine(registry=registry, store=SqlStore(f"sqlite:///{tmp_path / 'ui.db'}"))
    async with live_server(ServerSettings(), engine) as live:
        yield live


async def start_run(server: LiveServer, workflow: object, inputs: dict[str, object] | None = None) -> str:
    async with server.client() as client:
        response = await client.post("/api/v1/runs", json={"workflow": workflow, "inputs": inputs or {}})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


async def status_of(server: LiveServer, run_id: str) -> Status:
    assert server.engine.store is not None
    row = await server.engine.store.get_run(run_id)
    assert row is not None
    return row.status


def node(page: Page, node_id: str):  # type: ignore[no-untyped-def]
    return page.locator(f'#graph [data-node="{node_id}"]')


async def test_quickstart_from_the_ui_turns_every_node_green_without_a_reload(
    server: LiveServer, page: Page
) -> None:
    await page.goto(f"{server.base_url}/ui/workflows")
    await page.fill("#new-run textarea[name=workflow]", QUICKSTART)
    await page.fill("#new-run textarea[name=inputs]", json.dumps(QUICKSTART_INPUTS))
    await page.click("#new-run button[type=submit]")
    await page.wait_for_url(re.compile(r"/ui/runs/[0-9a-f-]{36}$"))
    await page.evaluate("window.stillHere = true")
    for node_id in ("start_0", "loop_0", "line_0", "sum_0", "condition_0", "discount_0", "end_0"):
        await expect(node(page, node_id)).to_have_attribute("data-status", "succeeded")
    await expect(node(page, "regular_0")).to_have_attribute("data-status", "skipped")
    await expect(node(page, "line_0")).to_contain_text("\u00d73")  # three loop iterations
    await expect(page.locator("#run-status")).to_have_text("succeeded")
    assert await page.evaluate("window.stillHere") is True  # no reload happened
    await expect(page.locator("#gantt .bar.succeeded").first).to_be_visible()
    await node(page, "discount_0").click()
    await expect(page.locator("#node-executions")).to_contain_text("subtotal")
    await page.screenshot(path=str(DOCS / "ui-run.png"), full_page=True)

    # the same workflow again, from the form made from its start schema
    await page.goto(f"{server.base_url}/ui/workflows")
    form = page.locator("form.run-form").first
    await form.locator("input[name=customer]").fill("Grace")
    await form.locator("textarea[name=items]").fill(json.dumps(QUICKSTART_INPUTS["items"]))
    await form.locator("button[type=submit]").click()
    await page.wait_for_url(re.compile(r"/ui/runs/[0-9a-f-]{36}$"))
    await expect(node(page, "end_0")).to_have_attribute("data-status", "succeeded")
    await expect(page.locator("#run-outputs")).to_contain_text("Grace pays 144")


async def test_a_failing_node_shows_its_error_and_resume_keeps_what_succeeded(
    server: LiveServer, page: Page, counter: CountExecutor
) -> None:
    counter.fail.add("c2")
    run_id = await start_run(server, count_chain(3), {"x": 1})
    await page.goto(f"{server.base_url}/ui/runs/{run_id}")
    await expect(node(page, "c1")).to_have_attribute("data-status", "succeeded")
    await expect(node(page, "c2")).to_have_attribute("data-status", "failed")
    await node(page, "c2").press("Enter")  # keyboard-reachable
    await expect(page.locator("#node-executions .node-error-text")).to_contain_text("c2 failed on purpose")
    await expect(page.locator("#run-error")).to_contain_text("c2 failed on purpose")

    counter.fail.clear()
    await page.click("#resume-run")
    await expect(page.locator("#run-status")).to_have_text("succeeded")
    await expect(node(page, "c3")).to_have_attribute("data-status", "succeeded")
    assert (counter.ran("c1"), counter.ran("c2"), counter.ran("c3")) == (1, 2, 1)


async def test_cancel_from_the_ui_stops_a_running_loop(
    server: LiveServer, page: Page, counter: CountExecutor
) -> None:
    counter.block.add("inner")
    run_id = await start_run(server, count_loop(3), {})
    await counter.blocked.wait()
    await page.goto(f"{server.base_url}/ui/runs/{run_id}")
    await expect(node(page, "inner")).to_have_attribute("data-status", "processing")
    await expect(node(page, "loop_0")).to_have_attribute("data-status", "processing")
    await page.click("#cancel-run")
    await expect(page.locator("#run-status")).to_have_text("canceled")
    assert await status_of(server, run_id) is Status.CANCELED
    assert counter.ran("inner") == 1  # the loop went no further


async def test_answering_a_waiting_run_from_the_ui_completes_it(server: LiveServer, page: Page) -> None:
    run_id = await start_run(server, approval(), {"who": "Ada"})
    await wait_until_status(server, run_id, Status.WAITING)
    await page.goto(f"{server.base_url}/ui/runs/{run_id}")
    form = page.locator("form.wait")
    await expect(form).to_contain_text("Approve Ada?")
    await page.fill("form.wait input[name=text]", '{"approved": true, "note": "fine"}')
    await form.locator("button", has_text="Send").click()
    await expect(page.locator("#run-status")).to_have_text("succeeded")
    await expect(page.locator("#run-outputs")).to_contain_text('"note": "fine"')


async def wait_until_status(server: LiveServer, run_id: str, status: Status) -> None:
    assert server.engine.store is not None
    store = server.engine.store

    async def reached() -> bool:
        row = await store.get_run(run_id)
        return row is not None and row.status is status

    for _ in range(200):
        if await reached():
            return
        await anyio.sleep(0.05)
    raise AssertionError(f"run {run_id} never reached {status}")


async def test_filters_live_in_the_url_rows_update_live_and_bulk_rerun(
    server: LiveServer, page: Page, counter: CountExecutor
) -> None:
    counter.fail.add("c1")
    failed = [await start_run(server, count_chain(1), {"x": i}) for i in range(2)]
    for run_id in failed:
        await wait_until_status(server, run_id, Status.FAILED)
    counter.fail.clear()
    await start_run(server, count_chain(1), {"x": 5})

    await page.goto(f"{server.base_url}/ui/runs")
    await page.click('.chips a[data-status="failed"]')
    await page.fill("input[name=q]", '"x":1')  # in the inputs' JSON text
    await page.click("#filters button[type=submit]")
    await expect(page.locator("#runs-total")).to_have_text("1 run")
    await page.reload()
    assert "status=failed" in page.url and "q=%22x%22%3A1" in page.url
    await expect(page.locator('.chips a[data-status="failed"]')).to_have_attribute("aria-pressed", "true")
    await expect(page.locator("input[name=q]")).to_have_value('"x":1')
    await expect(page.locator("tbody tr")).to_have_count(1)
    await expect(page.locator(f"#run-{failed[1]}")).to_be_visible()

    # every run: a new one shows up without a reload, and its row follows its status
    await page.goto(f"{server.base_url}/ui/runs")
    await page.screenshot(path=str(DOCS / "ui-runs.png"), full_page=True)
    counter.block.add("c1")
    blocked = await start_run(server, count_chain(1), {"x": 9})
    row = page.locator(f"#run-{blocked}")
    await expect(row).to_have_attribute("data-status", "processing")
    counter.release.set()
    await expect(row).to_have_attribute("data-status", "succeeded")

    # bulk re-run of the two failed runs
    counter.block.clear()
    for run_id in failed:
        await page.check(f'#run-{run_id} input[name="run"]')
    await page.click('button[data-bulk="rerun"]')
    await expect(page.locator("#flash")).to_contain_text("2 runs re-run")
    await expect(page.locator("#runs-total")).to_have_text("6 runs")


async def test_token_auth_login_form_sets_a_cookie(tmp_path: Path, page: Page) -> None:
    engine = flowloom.Engine(store=SqlStore(f"sqlite:///{tmp_path / 'auth.db'}"))
    async with live_server(ServerSettings(token=TOKEN), engine) as server:
        await page.goto(f"{server.base_url}/ui/runs?status=failed")
        assert "/ui/login" in page.url
        await page.fill("input[name=token]", "wrong")
        await page.click("form.login button[type=submit]")
        await expect(page.locator("#login-problem")).to_contain_text("not right")
        await page.fill("input[name=token]", TOKEN)
        await page.click("form.login button[type=submit]")
        await page.wait_for_url(re.compile(r"/ui/runs\?status=failed$"))
        assert TOKEN not in page.url
        await expect(page.locator("h1")).to_have_text("Runs")
        cookies = await page.context.cookies()
        assert [c["httpOnly"] for c in cookies] == [True] and TOKEN not in cookies[0]["value"]
        # the page's own calls to the API go through with the cookie; without it they are refused
        assert await page.evaluate("fetch('/api/v1/runs').then(r => r.status)") == 200
        await page.context.clear_cookies()
        assert await page.evaluate("fetch('/api/v1/runs').then(r => r.status)") == 401


async def test_a_running_node_streams_its_log_tail_first(
    server: LiveServer, page: Page, chatty: Chatty
) -> None:
    workflow = chain_of(start(), wf_node("talk", "chatty", lines=250), end())
    run_id = await start_run(server, workflow)
    await page.goto(f"{server.base_url}/ui/runs/{run_id}")
    await expect(node(page, "talk")).to_have_attribute("data-status", "processing")  # in flight, in the store
    await node(page, "talk").click()
    log = page.locator("#node-log")
    await expect(log).to_contain_text("line 249")
    assert await log.locator("span").count() == 200  # the tail first
    await page.click("#load-earlier")
    await expect(log.locator("span")).to_have_count(250)
    assert (await log.locator("span").first.text_content() or "").strip() == "line 0"
    await expect(log.locator("span.stderr")).to_have_count(5)
    chatty.release.set()
    await expect(page.locator("#node-tokens")).to_have_text("Hello!")
    await expect(page.locator("#node-progress")).to_have_attribute("value", "1")
    chatty.finish.set()
    await expect(log.locator("span").last).to_have_text("done\n")  # live, without a reload
    await expect(page.locator("#run-status")).to_have_text("succeeded")
    async with server.client() as client:
        text = (await client.get(f"/api/v1/runs/{run_id}/logs?node=talk&download=true")).text
    assert (
        text.splitlines()[0] == "line 0" and text.splitlines()[-1] == "done" and len(text.splitlines()) == 251
    )


async def test_phone_width_and_dark_mode(server: LiveServer, page: Page, counter: CountExecutor) -> None:
    run_id = await start_run(server, count_chain(2), {"x": 1})
    await page.set_viewport_size({"width": 375, "height": 740})
    await page.emulate_media(color_scheme="dark")
    for path in ("/ui/runs", f"/ui/runs/{run_id}", "/ui/workflows", "/ui/nodes"):
        await page.goto(f"{server.base_url}{path}")
        # nothing wider than the screen but the tables' and the graph's own scrolling boxes
        assert await page.evaluate("document.documentElement.scrollWidth") <= 375, path
        background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(17, 21, 27)", (path, background)
    await expect(page.locator("#node-type-count")).to_be_visible()
    await page.goto(f"{server.base_url}/ui/runs/{run_id}")
    await expect(node(page, "c2")).to_have_attribute("data-status", "succeeded")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.tagName") == "A"  # controls take the focus in order


async def test_retries_show_as_attempts_and_backoff(server: LiveServer, page: Page) -> None:
    flaky = wf_node("shaky", "flaky", failures=2)
    flaky["retry"] = {"max_attempts": 3, "delay_s": 0.2, "backoff": 1}
    run_id = await start_run(server, chain_of(start(), flaky, end()))
    await page.goto(f"{server.base_url}/ui/runs/{run_id}")
    await expect(node(page, "shaky")).to_have_attribute("data-status", "succeeded")
    await expect(node(page, "shaky")).to_contain_text("attempt 3")
    await expect(page.locator('#gantt .lane[data-node="shaky"] .bar.backoff')).to_have_count(2)
    await node(page, "shaky").click()
    await expect(page.locator("#node-executions")).to_contain_text("attempt 1 failed")
    await expect(page.locator("#node-executions")).to_contain_text("flaky call 2 failed")
