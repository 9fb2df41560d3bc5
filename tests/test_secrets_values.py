"""Which values are secrets (names, start-input schemas, refs and templates into sensitive inputs), how a
``Masker`` hides them, and a ``SecretBox``'s keys; plus a flowengine ``http.request`` with a secret header."""

from __future__ import annotations

import json
from typing import Any

import pytest

import flowloom
from _postgres import postgres_server  # noqa: F401
from _workflows import node, ref
from flowloom.engine import MASK, Masker, SecretBox, SecretKeyError, WorkflowSecrets, is_sensitive
from flowloom.ir import RunRow, RunStore, Status, StoreError, Workflow
from flowloom.testing import HttpEchoServer
from test_stores import store, store_url  # noqa: F401  (fixtures: every store, memory, SQLite, PostgreSQL)

pytestmark = pytest.mark.anyio


def ir_of(document: dict[str, Any]) -> Workflow:
    return flowloom.Engine().load(document).workflow


@pytest.mark.parametrize(
    ("name", "sensitive"),
    [
        ("apiKey", True),
        ("Authorization", True),
        ("Proxy-Authorization", True),
        ("Cookie", True),
        ("X-Api-Key", True),
        ("db_password", True),
        ("client_secret", True),
        ("access_token", True),
        ("token", True),
        ("maxTokens", False),
        ("X-Token", False),
        ("Accept", False),
        ("url", False),
        ("prompt", False),
    ],
)
def test_sensitive_names(name: str, sensitive: bool) -> None:
    assert is_sensitive(name) is sensitive


def test_a_workflow_says_which_inputs_and_constants_are_secrets() -> None:
    start = node(
        "start_0",
        "start",
        outputs={
            "type": "object",
            "properties": {
                "pw": {"type": "string", "format": "password"},
                "hidden": {"type": "string", "writeOnly": True},
                "user": {"type": "string"},
                "token_in": {"type": "string"},
                "plain": {"type": "string"},
            },
        },
    )
    headers = {
        "Authorization": {"type": "template", "content": "Bearer {{start_0.token_in}}"},
        "X-Api-Key": {"type": "constant", "content": "const-key-123"},
        "X-Named": {"type": "secret", "content": "SOME_VARIABLE"},
        "Accept": {"type": "constant", "content": "application/json"},
    }
    http = node(
        "http_0",
        "http",
        api={"method": "GET", "url": {"type": "constant", "content": "http://127.0.0.1:9/x"}},
        headers={"type": "object", "properties": {name: {"type": "string"} for name in headers}},
        headersValues=headers,
        body={"bodyType": "none"},
    )
    end = node(
        "end_0",
        "end",
        inputs={"type": "object", "properties": {"apiKey": {"type": "string"}, "u": {"type": "string"}}},
        inputsValues={"apiKey": ref("start_0", "user"), "u": ref("start_0", "plain")},
    )
    document = {
        "nodes": [start, http, end],
        "edges": [
            {"sourceNodeID": "start_0", "targetNodeID": "http_0"},
            {"sourceNodeID": "http_0", "targetNodeID": "end_0"},
        ],
    }
    found = WorkflowSecrets.of(ir_of(document))
    # user feeds an apiKey by a ref, token_in an Authorization header by a template
    assert found.inputs == {"pw", "hidden", "user", "token_in"}
    # the header schema's "string" types, a secret's variable name and Accept are no secrets
    assert found.constants == {"const-key-123"}


def test_a_masker_hides_values_in_text_json_and_nested_values() -> None:
    masker = Masker(["sk-abc", 'we"ird', "no"])  # "no": too short to be hidden
    assert masker.text("key sk-abc, no") == f"key {MASK}, no"
    text = json.dumps({"a": ["Bearer sk-abc", {"b": 'we"ird'}], "n": 3})
    assert json.loads(masker.json_text(text)) == {"a": [f"Bearer {MASK}", {"b": MASK}], "n": 3}
    assert masker.value({"k": ("sk-abc", 1)}) == {"k": (MASK, 1)}
    assert not Masker() and Masker().value({"x": "sk-abc"}) == {"x": "sk-abc"}


def test_a_box_opens_only_what_its_key_sealed() -> None:
    box, other = SecretBox.generate(), SecretBox.generate()
    sealed = box.seal({"inputs": {"pw": "hunter22"}})
    assert "hunter22" not in sealed
    assert box.open(sealed) == {"inputs": {"pw": "hunter22"}}
    with pytest.raises(SecretKeyError, match="sealed with another key"):
        other.open(sealed)
    with pytest.raises(SecretKeyError, match="not a Fernet key"):
        SecretBox("not a key", where="$FLOWLOOM_SECRET_KEY")


async def test_a_flowengine_http_request_hides_its_secret_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWLOOM_TEST_FE_KEY", "fe-named-888")
    async with HttpEchoServer() as echo:
        document = {
            "nodes": [
                {
                    "id": "h",
                    "node_type": "http.request",
                    "config": {
                        "method": "GET",
                        "headers": {
                            "Authorization": "Bearer fe-secret-777",
                            "X-Api-Key": {"type": "secret", "content": "FLOWLOOM_TEST_FE_KEY"},
                        },
                    },
                }
            ],
            "connections": [],
        }
        async with flowloom.Engine(store="sqlite:///:memory:") as engine:
            run = await engine.run(document, {"url": f"{echo.base_url}/x"})
            assert run.status is Status.SUCCEEDED, run.error
            assert engine.store is not None
            stored = await engine.store.get_workflow((await engine.store.get_run(run.id)).workflow_hash)  # type: ignore[union-attr]
            nodes = await engine.store.get_nodes(run.id)
    assert echo.requests[0].headers["authorization"] == "Bearer fe-secret-777"
    assert echo.requests[0].headers["x-api-key"] == "fe-named-888"
    shown = json.dumps(run.report().to_json()) + json.dumps(stored) + repr(nodes)
    assert "fe-secret-777" not in shown and "fe-named-888" not in shown
    assert MASK in json.dumps(stored)


async def test_a_pipeline_task_reads_a_secret_by_name_that_is_never_recorded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flowloom import Pipeline, RunContext
    from flowloom.stores import MemoryStore

    monkeypatch.setenv("FLOWLOOM_TEST_PIPELINE_KEY", "pipe-secret-4242")
    memory = MemoryStore()
    pipeline = Pipeline("secrets", store=memory)
    used: list[str] = []

    @pipeline.task()
    def call(context: RunContext[None]) -> str:
        key = context.secret("FLOWLOOM_TEST_PIPELINE_KEY")
        used.append(key)
        return f"called with {key}"

    @pipeline.task()
    def missing(context: RunContext[None]) -> str:
        return context.secret("FLOWLOOM_TEST_NOT_SET")

    run_id = await pipeline.run_once()
    assert used == ["pipe-secret-4242"]
    report = pipeline.get_run_report(run_id)
    assert report["tasks"]["call"]["result"] == f"called with {MASK}"
    assert report["tasks"]["missing"]["error"] == (
        'FlowloomError: secret "FLOWLOOM_TEST_NOT_SET" is not set: '
        "set the environment variable FLOWLOOM_TEST_NOT_SET"
    )
    recorded = repr(await memory.get_nodes(run_id)) + repr(await memory.get_events(run_id))
    assert "pipe-secret-4242" not in json.dumps(report) + recorded


async def test_every_store_keeps_a_runs_sealed_secrets_until_the_run_is_pruned(
    store: RunStore,  # noqa: F811  (the fixture)
) -> None:
    await store.create_run(RunRow(id="r1", workflow_hash="wf", status=Status.PROCESSING, created_at=1.0))
    assert await store.get_secrets("r1") is None
    await store.put_secrets("r1", "sealed-1")
    await store.put_secrets("r1", "sealed-2")  # replaced
    assert await store.get_secrets("r1") == "sealed-2"
    with pytest.raises(StoreError, match="unknown run"):
        await store.put_secrets("nope", "sealed")
    await store.update_run("r1", status=Status.SUCCEEDED)
    assert await store.prune_runs(older_than=10.0) == 1
    assert await store.get_secrets("r1") is None


async def test_a_shell_node_gets_a_secret_by_name_in_its_env_and_prints_it_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOWLOOM_TEST_SHELL_KEY", "shell-secret-5150")
    document = {
        "nodes": [
            {
                "id": "s",
                "node_type": "shell.exec",
                "config": {
                    "command": "sh",
                    "args": ["-c", 'test "$KEY" = shell-secret-5150 && echo "same $KEY"'],
                    "env": {
                        "KEY": {"type": "secret", "content": "FLOWLOOM_TEST_SHELL_KEY"},
                        "TOKEN": "plain-in-env",  # names in env are not judged: a script may print them
                    },
                },
            }
        ],
        "connections": [],
    }
    async with flowloom.Engine(store="sqlite:///:memory:") as engine:
        assert WorkflowSecrets.of(engine.load(document).workflow) == WorkflowSecrets()
        run = await engine.run(document, {})
        assert run.status is Status.SUCCEEDED, run.error
        assert engine.store is not None
        recorded = repr(await engine.store.get_nodes(run.id)) + repr(await engine.store.get_events(run.id))
    snapshot = run.report().reports["s"].snapshots[0]
    assert snapshot.outputs is not None and snapshot.outputs["stdout"] == f"same {MASK}"
    assert "shell-secret-5150" not in json.dumps(run.report().to_json()) + recorded


def test_a_schema_property_named_type_is_not_taken_for_a_flow_value() -> None:
    """A JSON schema whose properties include one called ``type`` (a dict where a flow value has its
    kind's name) is scanned as data (AbstractFlow's flow 462808d4 has one)."""
    node = {"id": "n", "type": "x", "data": {"properties": {"type": {"type": "string", "enum": ["a"]}}}}
    assert WorkflowSecrets.of(Workflow.model_validate({"nodes": [node]})) == WorkflowSecrets()
