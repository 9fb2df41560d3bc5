"""The 140 AbstractFlow editor flows (``../shared/conformance/visualflow/abstractflow/flows``): real editor
output. Every one loads and compiles except the two AbstractRuntime 0.13.0 refuses ("goes back out of …
loop body"). Each compiled flow then runs offline on a SQLite store, every wait answered by a new engine:
a flow whose reachable nodes (and subflows) are all in the corpus's scope ends succeeded or still waiting
(a listener waits for ever); the others fail at run time naming the out-of-scope node type they reach."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from flowloom import Engine
from flowloom.engine import RunFailedError
from flowloom.formats.visualflow import FolderSubflows, with_subflows
from flowloom.ir import InvalidWorkflowError, Status
from flowloom.stores import SqlStore
from test_visualflow_conformance import corpus_dir

pytestmark = pytest.mark.anyio

# AbstractRuntime 0.13.0 refuses these two (a wire from inside a loop body back to the loop's own exec-in).
REFUSED = {
    "a8f5b5f8": "Set last_response.exec-out -> Follow-up loop goes back out of Follow-up loop's loop body",
    "multi_agent_state_machine": "Set condition.exec-out -> While goes back out of While's loop body",
}
# Flows that fail before they reach their out-of-scope nodes, as AbstractRuntime's would (deviation D2:
# it "completes" them with success false at the same node).
FAILS_FIRST = {
    "ltm-ai-kg-ingest-span": "names starting with '_' are reserved "
    "('_temp.kg_ingest.saved_context_messages')",
    # The flow's own Python fails with no inputs, as on AbstractRuntime, whose code node runs `codeBody`
    # (with one local per input pin) whenever there is one, before `code` (`_create_code_runtime_handler`).
    "85228163": "unsupported operand type(s) for +: 'NoneType' and 'NoneType' (TypeError, line 1 of",
    "benchmark-agentic": "name 'out' is not defined (NameError, line 1 of codeBody)",
    "benchmark-agentic-case-setup": "name 'index_path' is not defined (NameError, line 4 of codeBody)",
    "benchmark-agentic-codeact-run": "name 'case_dir' is not defined (NameError, line 1 of codeBody)",
    "benchmark-agentic-react-run": "name 'case_dir' is not defined (NameError, line 1 of codeBody)",
}
# Flows whose out-of-scope nodes the run does not reach with no inputs: a branch goes round them.
GOES_ROUND = {
    "b991bd18": "follow_up is empty: the If takes its false branch, not the LLM call",
    "d6f30991": "the task list is empty: the While never enters its body (agent, llm_call)",
}
# Node types the lowering adds (the multi-entry join and route select) and the compiler's begin/finish.
INTERNAL = {"join_exec", "path_mux", "begin", "finish"}
ANSWERS = 4  # waits answered per run before a still-waiting run counts as a listener
VF = "vf."


def flows_dir() -> Path:
    return corpus_dir() / "abstractflow" / "flows"


def flow_names() -> list[str]:
    return sorted(path.stem for path in flows_dir().glob("*.json"))


@cache
def scope_types() -> frozenset[str]:
    """The node types of the corpus README's "Node types in scope" table."""
    readme = (corpus_dir() / "README.md").read_text(encoding="utf-8")
    return frozenset(re.findall(r"^\| [A-Za-z/ ]+ \| `([a-z_]+)` \|", readme, re.MULTILINE))


@cache
def documents_by_id() -> dict[str, dict[str, Any]]:
    documents = [json.loads(path.read_text(encoding="utf-8")) for path in flows_dir().glob("*.json")]
    return {document["id"]: document for document in documents if isinstance(document.get("id"), str)}


def subflow_types(document: dict[str, Any], seen: set[str]) -> set[str]:
    """Every node type of the subflows ``document`` names, transitively (a subflow runs them all)."""
    types: set[str] = set()
    for node in document.get("nodes", []):
        child_id = node.get("data", {}).get("subflowId")
        child = documents_by_id().get(child_id) if isinstance(child_id, str) else None
        if child is None or child_id in seen:
            continue
        seen.add(child_id)
        types |= {n.get("data", {}).get("nodeType") for n in child.get("nodes", [])}
        types |= subflow_types(child, seen)
    return types


def out_of_scope(engine: Engine, name: str) -> set[str]:
    """The out-of-scope node types a run of flow ``name`` could reach: those of its compiled (reachable)
    nodes and of its subflows."""
    compiled = engine.load(flows_dir() / f"{name}.json")
    types = {node.type.removeprefix(VF) for node in compiled.workflow.nodes}
    document = json.loads((flows_dir() / f"{name}.json").read_text(encoding="utf-8"))
    types |= subflow_types(document, {document.get("id", name)})
    return {t for t in types if isinstance(t, str)} - scope_types() - INTERNAL


def test_all_140_flows_are_here() -> None:
    assert len(flow_names()) == 140
    assert len(scope_types()) > 80  # the README table was read


def test_exactly_the_two_flows_abstractruntime_refuses_are_refused() -> None:
    engine = Engine()
    refused: dict[str, str] = {}
    for name in flow_names():
        try:
            engine.load(flows_dir() / f"{name}.json")
        except InvalidWorkflowError as exc:
            refused[name] = "; ".join(exc.errors)
    assert set(refused) == set(REFUSED)
    for name, wire in REFUSED.items():
        assert wire in refused[name]
        assert f"VisualFlow '{name}'" in refused[name]  # the message names the flow, then the wire


async def drive(name: str, url: str, inputs: dict[str, Any] | None = None) -> tuple[Status, str | None]:
    """Run flow ``name`` (with the subflows it reaches) on the store at ``url``; answer each wait from a new
    engine, up to ``ANSWERS``."""
    document = json.loads((flows_dir() / f"{name}.json").read_text(encoding="utf-8"))
    document = with_subflows(document, FolderSubflows(flows_dir()))  # its subflows: the editor's other flows
    async with SqlStore(url) as store:
        run = await Engine(store=store).run(document, inputs or {})
        for _ in range(ANSWERS):
            if run.status is not Status.WAITING:
                break
            wait = run.waits[0]
            run = await Engine(store=store).resume(
                run.id, payload={"response": "yes", "text": "yes"}, key=wait.key
            )
            await run.join()
        error = None
        if run.status is Status.FAILED:
            with pytest.raises(RunFailedError) as failed:
                await run.wait()
            error = str(failed.value)
        return run.status, error


def _missing_builtin_executor(error: str, engine: Engine) -> str | None:
    """An in-scope node type this build has no executor for yet (code/subflow come with another branch)."""
    match = re.search(r"node type vf\.([a-z_]+)", error)
    if match and match.group(1) in scope_types() and engine.registry.get(VF + match.group(1)) is None:
        return match.group(1)
    return None


@pytest.mark.parametrize("name", [n for n in flow_names() if n not in REFUSED])
async def test_each_flow_runs_offline_or_names_the_node_type_it_cannot_run(name: str, tmp_path: Path) -> None:
    engine = Engine()
    unreachable_here = out_of_scope(engine, name)
    status, error = await drive(name, f"sqlite:///{tmp_path / 'runs.db'}")
    if error is not None and (missing := _missing_builtin_executor(error, engine)):
        pytest.xfail(f"in-scope node type {missing!r} has no executor in this build")
    if name in FAILS_FIRST:
        assert status is Status.FAILED and error is not None
        assert FAILS_FIRST[name] in error
    elif not unreachable_here or name in GOES_ROUND:
        assert status in (Status.SUCCEEDED, Status.WAITING), error
    else:
        assert status is Status.FAILED, f"expected a failure at one of {sorted(unreachable_here)}"
        assert error is not None
        named = re.search(r"[Nn]o executor (?:found )?for node type vf\.([a-z_]+)", error)
        assert named is not None, error
        assert named.group(1) in unreachable_here, error


async def test_a_flow_that_went_round_its_llm_call_fails_there_when_its_input_takes_that_branch(
    tmp_path: Path,
) -> None:
    status, error = await drive(
        "b991bd18", f"sqlite:///{tmp_path / 'runs.db'}", {"query": "q", "follow_up": True}
    )
    assert status is Status.FAILED
    assert error is not None and "node type vf.llm_call" in error


async def test_a_run_waiting_before_an_out_of_scope_node_resumes_in_a_new_engine_and_fails_there(
    tmp_path: Path,
) -> None:
    """ltm-ai-chat asks the user first; the answer is taken by an engine that also lacks llm_call/memory
    executors, and the run fails when it reaches one (it is not refused as needing another engine)."""
    async with SqlStore(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        run = await Engine(store=store).run(flows_dir() / "ltm-ai-chat.json", {})
        assert run.status is Status.WAITING
        resumed = await Engine(store=store).resume(run.id, payload={"response": "hello"})
        await resumed.join()
        assert resumed.status is Status.FAILED
        with pytest.raises(RunFailedError, match=r"node type vf\.(llm_call|memory_[a-z_]+)"):
            await resumed.wait()
