"""Triggers that run: cron ticks (once a second, missed ticks once at start-up, each tick once across servers
on one PostgreSQL), webhooks (inputs from the body, the secret), events (every listener), manual runs; the
``triggers`` key of every format, its bad specs refused with index and field; ``flowloom triggers list``."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from _postgres import PG_TIMEOUT, create_database, drop_database, postgres_server  # noqa: F401
from _server import echo_workflow, live_server
from flowloom import Engine, Status
from flowloom.ir import RunRow, Workflow, WorkflowDefinition, secret_digest
from flowloom.server import ServerSettings
from flowloom.server._cron import CronService
from flowloom.server._registry import RunRegistry
from flowloom.server._trigger_book import TriggerBook
from flowloom.stores import MemoryStore, SqlStore
from test_cli import FLOWLOOM
from test_multi_engine import serve, until

pytestmark = pytest.mark.anyio

EVERY_SECOND = "* * * * * *"


def logged(*triggers: dict[str, Any], name: str = "logged") -> dict[str, Any]:
    """A flowengine workflow of one ``debug.log`` node (it gets the run's inputs), with ``triggers``."""
    return {"name": name, "nodes": [{"id": "log", "node_type": "debug.log"}], "triggers": list(triggers)}


def cron(expression: str = EVERY_SECOND, **fields: Any) -> dict[str, Any]:
    return {"kind": "cron", "expression": expression, **fields}


async def triggered_runs(url: str) -> list[RunRow]:
    """Runs a trigger started, oldest first."""
    async with SqlStore(url) as store:
        rows = await store.list_runs(limit=1000)
    return sorted((row for row in rows if "trigger" in row.metadata), key=lambda row: row.created_at)


def ticks(rows: list[RunRow]) -> list[float]:
    return [
        float(row.metadata["trigger"]["tick"]) for row in rows if row.metadata["trigger"]["kind"] == "cron"
    ]


async def save(client: httpx.AsyncClient, document: dict[str, Any], **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/workflows", json={"workflow": document, **fields})
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def finished(url: str, run_id: str) -> RunRow:
    async with SqlStore(url) as store:
        with anyio.fail_after(10):
            while True:
                row = await store.get_run(run_id)
                if row is not None and row.status not in (Status.PENDING, Status.PROCESSING):
                    return row
                await anyio.sleep(0.02)


# cron ----------------------------------------------------------------------------------------------------


async def test_a_once_a_second_cron_trigger_fires_three_times_in_three_seconds(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cron.db'}"
    async with live_server(ServerSettings(), Engine(store=url)) as server, server.client() as client:
        saved = await save(client, logged(cron(inputs={"from": "cron"})), id="every-second")
        assert saved["triggers"] == [
            {"kind": "cron", "expression": EVERY_SECOND, "inputs": {"from": "cron"}, "enabled": True}
        ]
        await anyio.sleep(3.0)
        await client.delete("/api/v1/workflows/every-second")  # no more ticks from here
    rows = await triggered_runs(url)
    assert 2 <= len(rows) <= 4, [row.metadata for row in rows]
    fired = ticks(rows)
    assert fired == sorted(set(fired)) and all(tick == int(tick) for tick in fired)  # one run per tick
    for row in rows:
        done = await finished(url, row.id)
        assert done.status is Status.SUCCEEDED and done.inputs == {"from": "cron"}
        assert row.metadata["trigger"]["workflow_id"] == "every-second"
        assert row.metadata["trigger"]["expression"] == EVERY_SECOND


async def test_a_server_restarted_after_missed_ticks_fires_them_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'restart.db'}"
    async with live_server(ServerSettings(), Engine(store=url)) as server, server.client() as client:
        await save(client, logged(cron()), id="restarted")
        async with SqlStore(url) as store:
            with anyio.fail_after(10):
                while not await store.last_trigger_fires():  # noqa: ASYNC110 (the store has no event)
                    await anyio.sleep(0.05)
    before = ticks(await triggered_runs(url))
    last_before = max(before)
    await anyio.sleep(3.5)  # ticks pass while no server runs
    async with live_server(ServerSettings(), Engine(store=url)):
        await anyio.sleep(1.5)
    after = [tick for tick in ticks(await triggered_runs(url)) if tick > last_before]
    caught_up = after[0]
    assert caught_up - last_before >= 3  # several ticks were missed ...
    assert [tick for tick in after if tick <= caught_up] == [caught_up]  # ... and fired once, as the latest
    assert after == sorted(set(after))  # then ticks as they come, each once


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_the_cron_rule_missed_ticks_once_then_every_tick_once_among_services() -> None:
    """The service's rule on a clock of the test's: a trigger saved at 0 with a tick every minute, first
    seen ten minutes later (ten ticks missed), fires once, for the latest; then each tick once, whichever of
    two services sharing the store sees it first."""
    store = MemoryStore()
    clock = Clock(600.5)
    document = logged(cron("* * * * *", inputs={"n": 1}))
    await store.save_definition(
        WorkflowDefinition(id="minutely", name="m", document=document, created_at=0.0, updated_at=0.0)
    )
    async with Engine(store=store) as engine:
        registry = RunRegistry(engine, max_runs=100, max_age_s=3600, event_buffer=100)
        book = TriggerBook(engine)
        first = CronService(registry, store, book, clock=clock)
        second = CronService(registry, store, TriggerBook(engine), clock=clock)
        await first.pass_once()
        await second.pass_once()
        assert await store.last_trigger_fires() == {("minutely", "0"): 600.0}
        for now in (601.0, 659.9, 660.0, 661.0, 725.0):
            clock.now = now
            await second.pass_once()
            await first.pass_once()
        await registry.cancel_active(5.0)
        runs = await store.list_runs(limit=100)
    fired = sorted(float(run.metadata["trigger"]["tick"]) for run in runs)
    assert fired == [600.0, 660.0, 720.0]
    assert {tuple(run.inputs.items()) for run in runs} == {(("n", 1),)}


@pytest.fixture
def pg_store_url(postgres_url: str) -> Iterator[str]:
    url = create_database(postgres_url)
    yield url
    drop_database(url)


@PG_TIMEOUT
def test_two_servers_on_one_postgresql_fire_each_cron_tick_exactly_once(pg_store_url: str) -> None:
    with serve(pg_store_url) as a, serve(pg_store_url) as b:
        saved = a.client.post("/api/v1/workflows", json={"workflow": logged(cron()), "id": "shared"})
        assert saved.status_code == 201, saved.text
        # both servers see the trigger
        assert b.client.get("/api/v1/triggers").json()["triggers"][0]["workflow_id"] == "shared"
        until(lambda: len(anyio.run(triggered_runs, pg_store_url)) >= 6, "six ticks fired")
        assert b.client.delete("/api/v1/workflows/shared").status_code == 204
    rows = anyio.run(triggered_runs, pg_store_url)
    fired = ticks(rows)
    assert len(fired) >= 6
    assert sorted(fired) == [min(fired) + i for i in range(len(fired))]  # every tick, none twice
    assert len({row.id for row in rows}) == len(rows)


# webhooks, events, manual ---------------------------------------------------------------------------------


async def test_a_webhook_starts_a_run_with_the_body_as_inputs_and_checks_its_secret(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hooks.db'}"
    hooked = logged({"kind": "webhook", "path": "/github/push", "secret": "s3cret"}, name="hooked")
    async with live_server(ServerSettings(), Engine(store=url)) as server, server.client() as client:
        saved = await save(client, hooked, id="hooked")
        assert saved["triggers"] == [
            {"kind": "webhook", "path": "github/push", "secret": True, "enabled": True}
        ]
        body = {"ref": "main", "commits": [1, 2]}
        answer = await client.post("/hooks/github/push", json=body, headers={"X-Flowloom-Secret": "s3cret"})
        assert answer.status_code == 201, answer.text
        run = await finished(url, answer.json()["id"])
        assert run.status is Status.SUCCEEDED and run.inputs == body
        assert run.metadata["trigger"] == {
            "workflow_id": "hooked",
            "key": "0",
            "kind": "webhook",
            "path": "github/push",
        }
        wrong = await client.post("/hooks/github/push", json=body, headers={"X-Flowloom-Secret": "guess"})
        missing = await client.post("/hooks/github/push", json=body)
        assert (wrong.status_code, missing.status_code) == (401, 401)
        assert "secret" in wrong.json()["message"]
        unknown = await client.post("/hooks/github/pull", json=body, headers={"X-Flowloom-Secret": "s3cret"})
        assert unknown.status_code == 404
        not_object = await client.post(
            "/hooks/github/push", json=[1], headers={"X-Flowloom-Secret": "s3cret"}
        )
        assert not_object.status_code == 400 and "JSON object" in not_object.json()["message"]
    async with SqlStore(url) as store:
        kept = await store.get_definition("hooked")
        assert kept is not None
        # the store keeps the secret's digest, never the secret
        assert "s3cret" not in json.dumps(kept.document)
        assert kept.document["triggers"][0]["secret_sha256"] == secret_digest("s3cret")
        assert len([row for row in await store.list_runs(limit=100) if "trigger" in row.metadata]) == 1


async def test_a_webhook_without_a_secret_follows_the_servers_token(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'token.db'}"
    settings = ServerSettings(token="tok")
    auth = {"Authorization": "Bearer tok"}
    async with live_server(settings, Engine(store=url)) as server, server.client() as client:
        saved = await client.post(
            "/api/v1/workflows", json={"workflow": logged({"kind": "webhook", "path": "open"})}, headers=auth
        )
        assert saved.status_code == 201, saved.text
        assert (await client.post("/hooks/open", json={})).status_code == 401
        assert (await client.post("/hooks/open", json={"a": 1}, headers=auth)).status_code == 201


async def test_an_event_starts_every_workflow_listening_for_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    async with live_server(ServerSettings(), Engine(store=url)) as server, server.client() as client:
        await save(client, logged({"kind": "event", "type": "order.created"}), id="billing")
        listening = echo_workflow() | {"triggers": [{"kind": "event", "type": "order.created"}]}
        await save(client, listening, id="echo")  # flowgram JSON with a triggers key
        await save(client, logged({"kind": "event", "type": "order.deleted"}), id="other")
        answer = await client.post("/api/v1/events/order.created", json={"msg": "hi"})
        assert answer.status_code == 200, answer.text
        runs = answer.json()["runs"]
        assert sorted(run["workflow_id"] for run in runs) == ["billing", "echo"]
        for run in runs:
            row = await finished(url, run["id"])
            assert row.status is Status.SUCCEEDED and row.inputs == {"msg": "hi"}
            assert row.metadata["trigger"]["type"] == "order.created"
        nobody = await client.post("/api/v1/events/nobody.listens", json={})
        assert nobody.json() == {"type": "nobody.listens", "runs": []}


async def test_a_saved_workflow_is_started_by_hand_listed_and_deleted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'manual.db'}"
    document = logged({"kind": "manual"}, cron("0 0 1 1 *", timezone="Europe/Paris", id="new-year"))
    async with live_server(ServerSettings(), Engine(store=url)) as server, server.client() as client:
        await save(client, document, id="by-hand")
        listing = (await client.get("/api/v1/workflows")).json()
        assert [saved["id"] for saved in listing["saved"]] == ["by-hand"] and listing["workflows"] == []
        one = (await client.get("/api/v1/workflows/by-hand")).json()
        assert (one["id"], one["name"], one["workflow"]) == ("by-hand", "logged", document)
        started = await client.post("/api/v1/workflows/by-hand/trigger", json={"inputs": {"n": 1}})
        assert started.status_code == 201, started.text
        row = await finished(url, started.json()["id"])
        assert row.inputs == {"n": 1} and row.metadata["trigger"]["kind"] == "manual"
        listed = (await client.get("/api/v1/triggers")).json()["triggers"]
        assert [(t["workflow_id"], t["key"], t["kind"]) for t in listed] == [
            ("by-hand", "0", "manual"),
            ("by-hand", "new-year", "cron"),
        ]
        assert listed[1]["next_fire_at"].endswith("Z") and listed[0]["next_fire_at"] is None
        assert (await client.post("/api/v1/workflows/nope/trigger", json={})).status_code == 404
        assert (await client.delete("/api/v1/workflows/by-hand")).status_code == 204
        assert (await client.delete("/api/v1/workflows/by-hand")).status_code == 404
        assert (await client.get("/api/v1/triggers")).json() == {"triggers": []}


async def test_a_webhook_path_belongs_to_one_saved_workflow(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'paths.db'}"
    async with live_server(ServerSettings(), Engine(store=url)) as server, server.client() as client:
        await save(client, logged({"kind": "webhook", "path": "deploy"}), id="first")
        await save(client, logged({"kind": "webhook", "path": "deploy"}), id="first")  # saved again: fine
        taken = await client.post(
            "/api/v1/workflows",
            json={"workflow": logged({"kind": "webhook", "path": "deploy/"}), "id": "second"},
        )
        assert taken.status_code == 409 and '"deploy" is taken by workflow "first"' in taken.json()["message"]


# the triggers key in every format ---------------------------------------------------------------------------


def test_flowengine_trigger_specs_are_kept() -> None:
    document = logged()
    document["triggers"] = [
        {"id": "t1", "enabled": True, "trigger_type": {"type": "Cron", "expression": "0 */5 * * * *"}},
        {"id": "t2", "enabled": False, "trigger_type": {"type": "Webhook", "path": "/hook"}},
        {"id": "t3", "enabled": True, "trigger_type": {"type": "Event", "event_type": "user.signup"}},
        {"id": "t4", "enabled": True, "trigger_type": {"type": "Manual"}},
    ]
    triggers = Engine().load(document).workflow.triggers
    assert [(t.id, t.kind, t.enabled) for t in triggers] == [
        ("t1", "cron", True),
        ("t2", "webhook", False),
        ("t3", "event", True),
        ("t4", "manual", True),
    ]
    assert triggers[1].kind == "webhook" and triggers[1].path == "hook"
    assert triggers[2].kind == "event" and triggers[2].type == "user.signup"


def test_a_workflow_without_triggers_dumps_as_before() -> None:
    assert "triggers" not in Workflow(nodes=[]).model_dump()
    ir = {"format": "flowloom", "nodes": [{"id": "a", "type": "start"}], "triggers": [{"kind": "manual"}]}
    loaded = Engine().load(ir).workflow
    assert loaded.model_dump(mode="json")["triggers"] == [{"id": None, "enabled": True, "kind": "manual"}]


VISUAL = {
    "id": "vf",
    "nodes": [
        {
            "id": "start",
            "type": "on_flow_start",
            "data": {
                "nodeType": "on_flow_start",
                "inputs": [],
                "outputs": [{"id": "exec-out", "type": "execution"}],
            },
        }
    ],
    "edges": [],
}

BAD_SPECS = [
    (cron("61 * * * *"), "triggers[0].expression: '61 * * * *' is not a cron expression"),
    (cron("* * *"), "triggers[0].expression: '* * *' has 3 field(s)"),
    (cron(timezone="Mars/Olympus"), "triggers[0].timezone: unknown time zone 'Mars/Olympus'"),
    ({"kind": "webhook", "path": "a b"}, "triggers[0].path: a webhook path is"),
    ({"kind": "webhook"}, "triggers[0].path: is required"),
    ({"kind": "webhook", "path": "x", "secret": ""}, 'triggers[0]: "secret" must be a non-empty string'),
    ({"kind": "event", "type": "no spaces"}, "triggers[0].type: an event type starts with"),
    ({"kind": "manual", "every": 3}, "triggers[0].every: is not a field of this kind of trigger"),
    ({"kind": "sometimes"}, 'triggers[0]: "kind" must be one of "cron", "webhook", "event", "manual"'),
    ({"trigger_type": {"type": "Hourly"}}, 'triggers[0]: "trigger_type.type" must be one of "Cron"'),
    ({"trigger_type": {"type": "Event"}}, "triggers[0].trigger_type.event_type: is required"),
    ("cron", "triggers[0]: a trigger is a JSON object, got a string"),
]


@pytest.mark.parametrize(("spec", "message"), BAD_SPECS, ids=[m.split(": ", 1)[1][:40] for _, m in BAD_SPECS])
@pytest.mark.parametrize("format_name", ["flowengine", "flowgram", "flowloom", "visualflow"])
def test_bad_trigger_specs_are_refused_naming_index_and_field(
    spec: Any, message: str, format_name: str
) -> None:
    documents = {
        "flowengine": logged(),
        "flowgram": echo_workflow(),
        "flowloom": {"format": "flowloom", "nodes": [{"id": "a", "type": "start"}]},
        "visualflow": VISUAL,
    }
    document = documents[format_name] | {"triggers": [spec]}
    result = Engine().validate(document, format=format_name)
    assert not result.valid
    assert any(error.startswith(message) for error in result.errors or []), result.errors


def test_triggers_must_be_an_array_and_ids_and_paths_unique() -> None:
    engine = Engine()
    assert engine.validate(logged() | {"triggers": {"kind": "manual"}}).errors == [
        '"triggers" must be an array of triggers, got an object'
    ]
    twice = logged(
        {"kind": "manual", "id": "x"},
        {"kind": "webhook", "path": "p", "id": "x"},
        {"kind": "webhook", "path": "p/"},
    )
    assert engine.validate(twice).errors == [
        'triggers[1].id: another trigger has the id "x"',
        'triggers[2].path: another webhook of this workflow listens on "p"',
    ]


async def test_saving_a_bad_workflow_is_a_400_naming_the_trigger(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    async with live_server(ServerSettings(), Engine(store=url)) as server, server.client() as client:
        bad = await client.post("/api/v1/workflows", json={"workflow": logged(cron("every minute"))})
        assert bad.status_code == 400
        assert "triggers[0].expression: 'every minute' has 2 field(s)" in bad.json()["message"]
        shapeless = await client.post("/api/v1/workflows", json={"document": {}})
        assert shapeless.status_code == 400 and '"workflow"' in shapeless.json()["message"]


# the CLI ---------------------------------------------------------------------------------------------------


async def test_triggers_list_shows_workflow_kind_spec_and_next_fire_time(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    now = time.time()
    async with SqlStore(url) as store:
        await store.save_definition(
            WorkflowDefinition(
                id="nightly",
                name="nightly",
                document=logged(cron("0 3 * * *", timezone="Europe/Paris"), {"kind": "event", "type": "go"}),
                created_at=now,
                updated_at=now,
            )
        )
    result = await anyio.run_process(
        [str(FLOWLOOM), "triggers", "list", "--json", "--store", url], check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    listed = json.loads(result.stdout)
    assert [(t["workflow_id"], t["kind"]) for t in listed] == [("nightly", "cron"), ("nightly", "event")]
    assert listed[0]["spec"]["expression"] == "0 3 * * *" and listed[1]["spec"]["type"] == "go"
    next_fire = listed[0]["next_fire_at"]
    assert next_fire is not None and next_fire[11:19] in ("01:00:00", "02:00:00")  # 03:00 in Paris, in UTC
    table = await anyio.run_process([str(FLOWLOOM), "triggers", "list", "--store", url], check=False)
    assert (
        table.returncode == 0 and "nightly" in table.stdout.decode() and "0 3 * * *" in table.stdout.decode()
    )


def test_triggers_list_refuses_no_store() -> None:
    result = subprocess.run([str(FLOWLOOM), "triggers", "list", "--no-store"], capture_output=True, text=True)
    assert result.returncode == 2 and "store" in result.stderr
