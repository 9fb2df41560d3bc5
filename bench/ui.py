"""The dashboard's numbers (issue 20):

1. the runs page's server time with 100,000 runs in SQLite, against the JSON API call that returns the same
   rows (target: the page takes at most 2x the API call): first page, a status filter, a deep page;
2. the delay from a node's event (its ``at``) to the browser's DOM update on the run page (target: <= 250 ms),
   in a real headless Chromium (Debian's, via Playwright; scripts/chromium.sh installs it when missing);
3. a run page and its node panel with 200,000 log lines on one node (SQLite): the server time of the run
   page against the JSON API call for its run, of the node's log tail (the last 200 lines) against the
   event stream call for the same 200 rows, and of the run page's stream (no log lines) against the whole
   ledger's, in the same run.

    uv run python bench/ui.py            # 100,000 runs; 20 node events; 200,000 log lines
    uv run python bench/ui.py --quick    # 10,000 runs; 5 node events; 20,000 log lines

Exit status 1 when a page or a run did not work (a missed target is reported, not fatal).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

import anyio
import httpx
import sqlalchemy as sa

import flowloom
from flowloom.nodes import NodeRegistry
from flowloom.server import FlowloomServer, ServerSettings, create_app
from flowloom.stores import SqlStore

ROOT = Path(__file__).resolve().parent.parent
PAGE_TARGET_RATIO = 2.0
DOM_TARGET_MS = 250.0
STATUSES = ("succeeded", "failed", "canceled", "succeeded")


class Pause:
    """``pause``: sleeps ``data.seconds`` (a node that takes a while, so each completion is its own event)."""

    type: ClassVar[str] = "pause"

    async def execute(self, ctx: flowloom.NodeContext) -> flowloom.NodeResult:
        await anyio.sleep(float(ctx.data.get("seconds", 0.1)))
        return flowloom.NodeResult(outputs={})


def seed(path: Path, count: int) -> None:
    """``count`` finished runs in one transaction, 7 workflows, one a second up to now."""
    engine = sa.create_engine(f"sqlite:///{path}")
    now = time.time()
    rows = [
        {
            "id": f"r{i:07d}",
            "wf": f"wf{i % 7}",
            "status": STATUSES[i % 4],
            "inputs": f'{{"n": {i}}}',
            "at": now - count + i,
        }
        for i in range(count)
    ]
    with engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO runs (id, workflow_hash, status, inputs, outputs, created_at, started_at,"
                " ended_at, metadata) VALUES (:id, :wf, :status, :inputs, '{}', :at, :at, :at + 0.5, '{}')"
            ),
            rows,
        )
    engine.dispose()


async def serve(engine: flowloom.Engine) -> tuple[FlowloomServer, anyio.abc.TaskGroup, str]:
    server = FlowloomServer(
        create_app(engine, ServerSettings(history_max_age_s=None)),
        port=0,
        log_level="warning",
        access_log=False,
    )
    group = anyio.create_task_group()
    await group.__aenter__()
    group.start_soon(server.serve)
    with anyio.fail_after(10):
        while not server.started:  # noqa: ASYNC110 - uvicorn has no started event
            await anyio.sleep(0.01)
    return server, group, f"http://127.0.0.1:{server.port}"


async def median_ms(client: httpx.AsyncClient, path: str, repeats: int) -> float:
    times = []
    for _ in range(repeats + 1):
        began = time.perf_counter()
        response = await client.get(path)
        took = time.perf_counter() - began
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:200]}")
        times.append(took * 1000)
    return statistics.median(times[1:])  # the first warms the caches


async def page_times(count: int, repeats: int, directory: Path) -> bool:
    path = directory / "runs.db"
    url = f"sqlite:///{path}"
    async with SqlStore(url) as store:
        await store.open()
    began = time.perf_counter()
    seed(path, count)
    print(f"runs page with {count:,} runs in SQLite (seeded in {time.perf_counter() - began:.1f} s):")
    engine = flowloom.Engine(store=url)
    server, group, base = await serve(engine)
    ok = True
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            first = (await client.get("/api/v1/runs?limit=50")).json()
            deep = first["next"]
            for _ in range(count // 100):  # walk to the middle of the history, one cursor at a time
                deep = (await client.get(f"/api/v1/runs?limit=50&before={deep}")).json()["next"]
            cases = {
                "first page": "limit=50",
                "status=failed": "status=failed&limit=50",
                f"page {count // 100 + 1} (cursor)": f"limit=50&before={deep}",
                "text q=99 (a scan)": "q=99&limit=50",
            }
            head = f"  {'listing':<24}{'JSON API ms':>12}{'page ms':>10}{'ratio':>8}"
            print(f"{head}   target <= {PAGE_TARGET_RATIO}x")
            for name, query in cases.items():
                api_ms = await median_ms(client, f"/api/v1/runs?{query}", repeats)
                page_ms = await median_ms(client, f"/ui/runs?{query}", repeats)
                ratio = page_ms / api_ms
                verdict = "ok" if ratio <= PAGE_TARGET_RATIO else "MISSED"
                print(f"  {name:<24}{api_ms:>12.1f}{page_ms:>10.1f}{ratio:>7.2f}x   {verdict}")
    except RuntimeError as exc:
        print(f"  FAILED: {exc}")
        ok = False
    finally:
        server.should_exit = True
        await group.__aexit__(None, None, None)
        await engine.aclose()
    return ok


def chain(n: int, seconds: float) -> dict[str, Any]:
    meta = {"position": {"x": 0, "y": 0}}
    nodes = [{"id": "start_0", "type": "start", "meta": meta, "data": {"outputs": {"type": "object"}}}]
    # the first pause leaves time to open the page: the measured completions all come after
    nodes += [
        {"id": f"p{i}", "type": "pause", "meta": meta, "data": {"seconds": 2.0 if i == 0 else seconds}}
        for i in range(n + 1)
    ]
    nodes.append({"id": "end_0", "type": "end", "meta": meta, "data": {}})
    edges = [{"sourceNodeID": a["id"], "targetNodeID": b["id"]} for a, b in itertools.pairwise(nodes)]
    return {"nodes": nodes, "edges": edges}


_OBSERVE = """() => {
  window.seenAt = {};
  window.observedFrom = Date.now();
  const observer = new MutationObserver((changes) => {
    for (const change of changes) {
      const node = change.target;
      if (node.dataset && node.dataset.status === "succeeded" && !(node.dataset.node in window.seenAt))
        window.seenAt[node.dataset.node] = Date.now();
    }
  });
  const graph = document.getElementById("graph");
  observer.observe(graph, { attributes: true, subtree: true, attributeFilter: ["data-status"] });
}"""


async def dom_delays(nodes: int, directory: Path) -> bool:
    from playwright.async_api import async_playwright

    done = await anyio.run_process([str(ROOT / "scripts" / "chromium.sh")], check=False)
    if done.returncode != 0:
        print(f"event -> DOM: FAILED, no Chromium: {done.stderr.decode().strip()}")
        return False
    registry = NodeRegistry.default()
    registry.register(Pause())
    engine = flowloom.Engine(registry=registry, store=f"sqlite:///{directory / 'live.db'}")
    server, group, base = await serve(engine)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client, async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=done.stdout.decode().strip())
            page = await browser.new_page()
            created = await client.post("/api/v1/runs", json={"workflow": chain(nodes, 0.2), "inputs": {}})
            run_id = created.json()["id"]
            await page.goto(f"{base}/ui/runs/{run_id}")
            await page.evaluate(_OBSERVE)
            await page.wait_for_selector('#run-status:text("succeeded")', timeout=60_000)
            seen: dict[str, float] = await page.evaluate("window.seenAt")
            observed_from: float = await page.evaluate("window.observedFrom")
            events = (await client.get(f"/api/v1/runs/{run_id}")).json()
            await browser.close()
        # each node's NodeSucceeded time, from the ledger
        assert engine.store is not None
        at = {
            row.data["node_id"]: row.data["at"]
            for row in await engine.store.get_events(run_id)
            if row.type == "NodeSucceeded"
        }
        delays = [
            seen[node] - at[node] * 1000
            for node in at
            if node in seen and node.startswith("p") and at[node] * 1000 > observed_from
        ]
        if events["status"] != "succeeded" or not delays:
            print(f"event -> DOM: FAILED (run {events['status']}, {len(delays)} delays seen)")
            return False
        verdict = "ok" if statistics.median(delays) <= DOM_TARGET_MS else "MISSED"
        print(
            f"event -> DOM update on the run page (SSE from the store, real Chromium), {len(delays)} node "
            f"completions: median {statistics.median(delays):.0f} ms, max {max(delays):.0f} ms; "
            f"target <= {DOM_TARGET_MS:.0f} ms: {verdict}"
        )
        return True
    finally:
        server.should_exit = True
        await group.__aexit__(None, None, None)
        await engine.aclose()


class Loud:
    """``loud``: logs ``data.lines`` lines."""

    type: ClassVar[str] = "loud"

    async def execute(self, ctx: flowloom.NodeContext) -> flowloom.NodeResult:
        for i in range(int(ctx.data["lines"])):
            ctx.log(f"line {i}: the quick brown fox jumps over the lazy dog")
        return flowloom.NodeResult(outputs={})


def loud_chain(lines: int) -> dict[str, Any]:
    meta = {"position": {"x": 0, "y": 0}}
    nodes = [
        {"id": "start_0", "type": "start", "meta": meta, "data": {"outputs": {"type": "object"}}},
        {"id": "loud", "type": "loud", "meta": meta, "data": {"lines": lines}},
        {"id": "end_0", "type": "end", "meta": meta, "data": {}},
    ]
    edges = [{"sourceNodeID": a["id"], "targetNodeID": b["id"]} for a, b in itertools.pairwise(nodes)]
    return {"nodes": nodes, "edges": edges}


async def stream_ms(client: httpx.AsyncClient, path: str, repeats: int) -> tuple[float, int]:
    """The median time to read a finished run's whole SSE stream, and how many events it sent."""
    times, count = [], 0
    for _ in range(repeats + 1):
        began = time.perf_counter()
        count = 0
        async with client.stream("GET", path) as response:
            if response.status_code != 200:
                raise RuntimeError(f"GET {path}: {response.status_code}")
            async for line in response.aiter_lines():
                count += line.startswith("id: ")
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times[1:]), count


async def big_log_times(lines: int, repeats: int, directory: Path) -> bool:
    registry = NodeRegistry.default()
    registry.register(Loud())
    engine = flowloom.Engine(registry=registry, store=f"sqlite:///{directory / 'logs.db'}")
    began = time.perf_counter()
    run = engine.start(loud_chain(lines), {})
    await run.wait()
    took = time.perf_counter() - began
    print(f"run page and node panel with {lines:,} log lines on one node (run in {took:.1f} s):")
    server, group, base = await serve(engine)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            tail = (await client.get(f"/api/v1/runs/{run.id}/logs?node=loud&limit=200")).json()["lines"]
            events = f"/api/v1/runs/{run.id}/events"
            same_rows = f"{events}?types=NodeLog&node=loud&last_event_id={tail[0]['seq'] - 1}"
            head = f"  {'what':<34}{'ms':>9}   {'against':<36}{'ms':>9}{'ratio':>8}"
            print(head)
            run_api = f"/api/v1/runs/{run.id}"
            pairs = [
                ("run page /ui/runs/{id}", f"/ui/runs/{run.id}", "JSON API /api/v1/runs/{id}", run_api),
                ("node tail /logs?node=&limit=200", f"{run_api}/logs?node=loud&limit=200",
                 "SSE of the same 200 lines", same_rows),
            ]  # fmt: skip
            for name, path, other_name, other in pairs:
                if "/events" in path:
                    mine, sent = await stream_ms(client, path, repeats)
                    name = f"{name} ({sent} events)"
                else:
                    mine = await median_ms(client, path, repeats)
                if "/events" in other:
                    theirs, sent = await stream_ms(client, other, repeats)
                    other_name = f"{other_name} ({sent:,})"
                else:
                    theirs = await median_ms(client, other, repeats)
                print(f"  {name:<34}{mine:>9.1f}   {other_name:<36}{theirs:>9.1f}{mine / theirs:>7.2f}x")
            # the whole ledger is what the run page streamed before it left log lines out: far too slow
            # to read here, so only the page's own stream is timed
            page_stream, sent = await stream_ms(client, f"{events}?exclude=NodeLog", repeats)
            total = lines + 8  # the run's events, its log lines among them
            print(
                f"  the run page's SSE (?exclude=NodeLog): {sent} of {total:,} events, {page_stream:.1f} ms"
            )
        return True
    except RuntimeError as exc:
        print(f"  FAILED: {exc}")
        return False
    finally:
        server.should_exit = True
        await group.__aexit__(None, None, None)
        await engine.aclose()


async def run(quick: bool) -> bool:
    with tempfile.TemporaryDirectory() as directory:
        ok = await page_times(10_000 if quick else 100_000, 3 if quick else 15, Path(directory))
        ok = await dom_delays(5 if quick else 20, Path(directory)) and ok
        ok = await big_log_times(20_000 if quick else 200_000, 3 if quick else 15, Path(directory)) and ok
    print()
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10,000 runs; 5 node events; 20,000 lines")
    return 0 if asyncio.run(run(parser.parse_args().quick)) else 1


if __name__ == "__main__":
    sys.exit(main())
