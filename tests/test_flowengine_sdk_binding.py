"""``flowloom.flowengine`` in detail: how a Python task's parameters are bound (in this process, and in the
``python3 -c`` script of a saved flow that ``flowloom run`` executes), the results ``run`` returns, and the
typed errors for bad input."""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from _flowengine_cases import corpus_dir, flowloom_command
from flowloom.flowengine import (
    Flow,
    FlowBuilder,
    FlowDefinitionError,
    FlowRunError,
    RetryPolicy,
    Sandbox,
    SandboxError,
    task,
)
from flowloom.formats.flowengine import plain, tagged


@task()
def greet(name: str, punctuation: str = "!") -> str:
    return f"hello {name}{punctuation}"


@task()
def as_set(n: int) -> Any:
    return {n, n + 1}


@task()
def leave(code: int) -> int:
    sys.exit(code)


@task()
def nothing() -> int:
    return 1


@task()
def pad(code: str, width: int = 6) -> str:
    return code.zfill(width)


@task()
def describe(text: str, home: str = "unset") -> dict[str, Any]:
    return {"text": text, "length": len(text), "home": home}


@task()
def parse(raw: str) -> int:
    return int(raw)


@task()
async def halve(n: int) -> float:
    return n / 2


@task(command="echo", args=["from", "echo"])
def say() -> None:
    """A built-in shell.exec node: its own command, the function never runs."""


@task()
def shout(word: str) -> str:
    return word.upper() + "!"


def _cli_run(flow: Flow, tmp_path: Path, inputs: dict[str, Any]) -> dict[str, Any]:
    flow.save(tmp_path / "flow.json")
    (tmp_path / "in.json").write_text(json.dumps(inputs))
    done = subprocess.run(
        [*flowloom_command(), "run", "flow.json", "--inputs", "@in.json", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_a_root_task_takes_run_inputs_by_name_with_defaults_and_ignores_the_rest() -> None:
    flow = Flow("greeting")
    flow >> greet
    assert flow.run(name="ada", unused=[1, 2]) == "hello ada!"
    assert flow.run(name="ada", punctuation="?") == "hello ada?"


def test_a_missing_required_parameter_fails_the_node_naming_it() -> None:
    flow = Flow("greeting")
    flow >> greet
    with pytest.raises(FlowRunError) as caught:
        flow.run(punctuation="?")
    assert str(caught.value) == "Node greet failed: Missing required input: name"
    assert caught.value.result["nodes"]["greet"]["status"] == "failed"


def test_a_result_that_is_not_json_fails_the_node() -> None:
    flow = Flow("sets")
    flow >> as_set
    with pytest.raises(FlowRunError) as caught:
        flow.run(n=1)
    assert str(caught.value).startswith(
        "Node as_set failed: Execution failed: task as_set returned a set, which is not JSON"
    )


def test_sys_exit_in_a_task_fails_that_node_only() -> None:
    flow = Flow("exits")
    flow >> leave
    result = flow.execute(code=3)
    assert (result["status"], result["error"]) == ("failed", "Node leave failed: SystemExit: 3")


def test_an_async_task_runs_on_the_loop_and_the_next_task_gets_its_result() -> None:
    flow = Flow("async")
    flow >> parse >> halve
    assert flow.run(raw="21") == 10.5


def test_a_built_in_shell_exec_task_runs_its_command_beside_python_tasks() -> None:
    flow = Flow("mixed")
    flow >> say >> shout
    assert flow.run() == "FROM ECHO!"


def test_several_sinks_give_a_dict_and_a_failed_one_is_left_out_under_continue_on_error() -> None:
    builder = FlowBuilder("fan-out")
    source, half, shouted = builder.add(parse), builder.add(halve), builder.add(greet)
    builder.connect(source, "output", half, "input").connect(source, "output", shouted, "name")
    assert builder.build().run(raw="4") == {"halve": 2.0, "greet": "hello 4!"}
    tolerant = Flow("fan-out", on_error="ContinueOnError")
    tolerant >> parse >> halve
    tolerant.link("parse", "output", tolerant.place(as_set), "n")
    assert tolerant.run(raw="4") == {"halve": 2.0}
    single = Flow("one-sink", on_error="ContinueOnError")
    single >> as_set
    assert single.run(n=1) is None


def test_the_same_names_in_two_flows_call_their_own_functions() -> None:
    first = task(name="step")(lambda n: n + 1)
    second = task(name="step")(lambda n: n * 10)
    a, b = Flow("a"), Flow("b")
    a >> first
    b >> second
    assert (a.run(n=2), b.run(n=2), a.run(n=5)) == (3, 20, 6)


def test_a_task_is_never_changed_by_a_flow() -> None:
    flow = Flow("twice")
    flow >> parse >> halve >> halve
    assert list(flow.tasks) == ["parse", "halve", "halve-2"]
    assert halve.name == "halve"
    with pytest.raises(dataclasses.FrozenInstanceError):
        halve.name = "other"  # type: ignore[misc]


def test_a_saved_flow_binds_the_same_way_when_flowloom_runs_it(tmp_path: Path) -> None:
    flow = Flow("padding")
    flow >> pad >> describe
    # "42" stays a string for a str parameter; HOME of the environment is not an input of the task
    expected = {"text": "000042", "length": 6, "home": "unset"}
    assert flow.run(code="42") == expected
    result = _cli_run(flow, tmp_path, {"code": "42"})
    assert (result["status"], result["outputs"]["describe"]["output"]) == ("succeeded", expected)


def test_a_saved_flow_whose_task_raises_fails_with_the_exception_on_stderr(tmp_path: Path) -> None:
    flow = Flow("parsing")
    flow >> parse
    result = _cli_run(flow, tmp_path, {"raw": "twenty"})
    assert result["status"] == "failed"
    assert result["nodes"]["parse"]["error"] == "Execution failed: Command exited with code 1"


def test_a_flow_with_a_client_runs_the_document_there(tmp_path: Path) -> None:
    class CliClient:
        """Executes a document as a server would: through ``flowloom run``, nothing of this process."""

        def __init__(self) -> None:
            self.documents: list[dict[str, Any]] = []

        def execute(self, workflow: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
            self.documents.append(workflow)
            (tmp_path / "flow.json").write_text(json.dumps(workflow))
            (tmp_path / "in.json").write_text(json.dumps(inputs))
            done = subprocess.run(
                [*flowloom_command(), "run", "flow.json", "--inputs", "@in.json", "--json"],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
            )
            result: dict[str, Any] = json.loads(done.stdout)
            return result

    client = CliClient()
    remote = Flow("remote", client=client)
    remote >> shout
    assert remote.run(word="hi") == "HI!"
    assert client.documents == [remote.to_dict()]


def test_unknown_node_type_is_refused_when_the_task_is_made() -> None:
    with pytest.raises(FlowDefinitionError, match=r"task \"fetch\": unknown node_type 'no.such'"):
        task(name="fetch", node_type="no.such")(lambda url: url)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: task(retry=0)(greet.fn), "retry must be a number of attempts >= 1"),
        (lambda: task(timeout=-1)(greet.fn), "timeout must be a positive number of seconds"),
        (lambda: RetryPolicy(max_attempts=0), "max_attempts must be an integer >= 1"),
        (lambda: Flow("x", on_error="Explode"), "on_error must be one of"),
        (lambda: Flow("x", max_parallel_nodes=0), "max_parallel_nodes must be an integer >= 1"),
        (lambda: Flow("x") >> greet >> nothing, 'task "nothing" takes no parameter'),
        (lambda: Flow("x") >> "greet", "only tasks"),  # type: ignore[operator]
    ],
)
def test_bad_definitions_raise_a_typed_error_saying_what(make: Any, message: str) -> None:
    with pytest.raises(FlowDefinitionError, match=message):
        make()


def test_connecting_to_a_parameter_that_does_not_exist_names_it() -> None:
    builder = FlowBuilder("b")
    a, b = builder.add(parse), builder.add(greet)
    with pytest.raises(
        FlowDefinitionError,
        match=r'task "greet" has no parameter "nope" \(its parameters: name, punctuation\)',
    ):
        builder.connect(a, "output", b, "nope")


def test_an_input_that_is_not_json_is_refused() -> None:
    flow = Flow("greeting")
    flow >> greet
    with pytest.raises(FlowDefinitionError, match="input 'name' is not a JSON value"):
        flow.run(name=object())


def test_a_sandbox_without_its_zypi_server_says_so() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with Sandbox(zypi_url=url) as sandbox:
        assert sandbox.health_check() is False
        with pytest.raises(SandboxError) as caught:
            sandbox.exec(["true"])
    assert str(caught.value) == f"Cannot connect to Zypi at {url}. Is it running?"


def test_a_sandbox_command_must_be_a_list_of_strings() -> None:
    with pytest.raises(SandboxError, match="a command is a non-empty list of strings"):
        Sandbox().exec("echo hi")  # type: ignore[arg-type]


@task(node_type="sandbox.exec")
def square_boxed(n: int) -> int:
    return n * n


@pytest.fixture(scope="module")
def zypi_url() -> Iterator[str]:
    sys.path.insert(0, str(corpus_dir()))
    from servers import start_zypi  # type: ignore[import-not-found]

    zypi = start_zypi()
    try:
        yield zypi.base_url
    finally:
        zypi.shutdown()


def test_a_python_task_of_sandbox_exec_runs_its_script_in_the_sandbox() -> None:
    flow = Flow("boxed")
    flow >> parse >> square_boxed
    assert flow.run(raw="7") == 49
    document = flow.to_dict()
    command = document["nodes"][1]["config"]["command"]["value"]
    assert [word["value"] for word in command[:2]] == ["python3", "-c"]
    assert "def square_boxed(n: int) -> int:" in command[2]["value"]


def test_a_python_task_of_zypi_exec_runs_its_script_through_zypi(zypi_url: str) -> None:
    def cube(n: int) -> int:
        return n**3

    flow = Flow("zypi")
    flow >> parse >> task(node_type="zypi.exec", url=zypi_url)(cube)
    assert flow.run(raw="3") == 27


def test_a_handle_of_another_builder_is_refused() -> None:
    first, second = FlowBuilder("first"), FlowBuilder("second")
    theirs, ours = first.add(greet), second.add(parse)
    with pytest.raises(FlowDefinitionError, match="'greet' was not added to this builder"):
        second.connect(ours, "output", theirs, "name")


def test_run_works_from_code_that_already_runs_an_event_loop() -> None:
    flow = Flow("from-async")
    flow >> greet

    async def main() -> Any:
        return flow.run(name="loop")

    assert anyio.run(main) == "hello loop!"


def test_to_json_is_the_same_each_time_and_keeps_the_settings() -> None:
    flow = Flow("settings", "what it does", max_parallel_nodes=2, on_error="ContinueOnError")
    flow >> greet
    document = json.loads(flow.to_json())
    assert flow.to_json() == flow.to_json()
    assert (document["description"], document["settings"]) == (
        "what it does",
        {"max_execution_time_ms": None, "max_parallel_nodes": 2, "on_error": "ContinueOnError"},
    )


def test_a_zypi_command_over_its_timeout_raises(zypi_url: str) -> None:
    with Sandbox(zypi_url=zypi_url) as sandbox:
        assert sandbox.exec(["sh", "-c", "exit 3"], timeout=5)[0] == 3  # a failure in time is a result
        with pytest.raises(SandboxError, match=r"Command timed out after 1s"):
            sandbox.exec(["sleep", "5"], timeout=1)


def test_tagged_config_values_read_back_as_they_were() -> None:
    value = {"n": 1, "x": 2.5, "ok": True, "none": None, "words": ["a", {"b": []}]}
    assert plain(tagged(value)) == value
