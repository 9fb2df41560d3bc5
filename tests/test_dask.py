"""Node work on a real Dask cluster (``DaskWorkers``; a ``LocalCluster`` of 2 worker processes): code nodes
and a Pipeline's sync tasks run there with the outputs, records and events of a local run; a worker killed
mid-task has its task rerun elsewhere and the node recorded once; cancel and timeout stop the remote work;
a node with ``"workers": "local"`` stays here."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from distributed import Client, get_task_stream

import flowloom
from _dask import dask_cluster, executing, worker_pids  # noqa: F401  (the fixture ``dask_client``)
from _workflows import chain, edge, end, node, props, ref, start
from flowloom import Pipeline
from flowloom.ir import CodeLimits, NodeLog, Status
from flowloom.stores import MemoryStore
from flowloom.workers import DaskWorkers

pytestmark = pytest.mark.anyio

_DEADLINE_S = 60.0  # how long a test waits for the cluster to do what it must (never reached when it works)


def python(node_id: str, script: str, inputs: dict[str, Any], **data: Any) -> dict[str, Any]:
    return node(
        node_id,
        "code",
        inputs=props(**dict.fromkeys(inputs, "number")),
        inputsValues=inputs,
        outputs=props(y="number"),
        script={"language": "python", "content": script},
        **data,
    )


def fan_out() -> dict[str, Any]:
    """start(x) -> {a: x*2 (Python), b: x+1 (JavaScript), c: x*10 (Python, kept local)} -> end."""
    x = {"x": ref("start_0", "x")}
    nodes = [
        start(x="number"),
        python("a", 'def main(args):\n    return {"y": args["params"]["x"] * 2}\n', x),
        node(
            "b",
            "code",
            inputs=props(x="number"),
            inputsValues=x,
            outputs=props(y="number"),
            script={
                "language": "javascript",
                "content": "function main({ params }) { return { y: params.x + 1 }; }",
            },
        ),
        python("c", 'def main(args):\n    return {"y": args["params"]["x"] * 10}\n', x, workers="local"),
        end(a=ref("a", "y"), b=ref("b", "y"), c=ref("c", "y")),
    ]
    edges = [edge("start_0", n) for n in "abc"] + [edge(n, "end_0") for n in "abc"]
    return {"nodes": nodes, "edges": edges}


async def recorded(store: MemoryStore, run_id: str) -> tuple[dict[str, str], Counter[str]]:
    nodes = {row.node_id: str(row.status) for row in await store.get_nodes(run_id)}
    events = Counter(row.type for row in await store.get_events(run_id))
    return nodes, events


async def until(check: Callable[[], bool], what: str) -> None:
    with anyio.fail_after(_DEADLINE_S):
        while not check():  # noqa: ASYNC110 (the cluster's state is polled: there is no event to wait on)
            await anyio.sleep(0.05)
    assert check(), what


async def test_code_nodes_run_on_the_cluster_as_they_run_here(dask_client: Client) -> None:
    local_store, dask_store = MemoryStore(), MemoryStore()
    async with flowloom.Engine(store=local_store) as engine:
        local = await engine.run(fan_out(), {"x": 3})
    with get_task_stream(dask_client) as stream:
        async with (
            DaskWorkers(dask_client) as workers,
            flowloom.Engine(workers=workers, store=dask_store) as engine,
        ):
            remote = await engine.run(fan_out(), {"x": 3})
    assert await remote.wait() == await local.wait() == {"a": 6, "b": 4, "c": 30}
    assert await recorded(dask_store, remote.id) == await recorded(local_store, local.id)
    # a and b ran on the cluster's workers, keyed by their node executions; c (local) did not
    ran = {task["key"]: task["worker"] for task in stream.data}
    executions = sorted(key.rsplit("-", 1)[0] for key in ran)  # the last part tells calls apart
    assert executions == [f"flowloom-{remote.id}-{n}-0-1" for n in "ab"]  # run, node, scope, attempt
    assert set(ran.values()) <= set(dask_client.scheduler_info()["workers"])


async def test_a_pipeline_runs_its_sync_tasks_on_the_cluster(dask_client: Client) -> None:
    pids = worker_pids(dask_client)
    async with DaskWorkers(dask_client) as workers:
        pipeline = Pipeline("on_dask", workers=workers, max_parallel=2)

        @pipeline.task()
        def left() -> int:
            return os.getpid()

        @pipeline.task()
        def right() -> int:
            return os.getpid()

        @pipeline.task(deps=[left, right])
        def both(left: int, right: int) -> list[int]:
            return [left, right, os.getpid()]

        @pipeline.task(deps=[both], workers="local")
        def here(both: list[int]) -> int:
            return os.getpid()

        async with pipeline:
            report = pipeline.get_run_report(await pipeline.run_once())
    assert report["status"] == "SUCCESS"
    assert {name: entry["status"] for name, entry in report["tasks"].items()} == dict.fromkeys(
        ("left", "right", "both", "here"), "SUCCESS"
    )
    ran_on = report["tasks"]["both"]["result"]
    assert ran_on[:2] == [report["tasks"]["left"]["result"], report["tasks"]["right"]["result"]]
    assert set(ran_on) <= pids and os.getpid() not in ran_on
    assert report["tasks"]["here"]["result"] == os.getpid()  # workers="local": on the pipeline's threads


def test_a_task_names_its_workers_local_or_none() -> None:
    pipeline = Pipeline("bad")
    with pytest.raises(ValueError, match='workers must be "local" or None'):
        pipeline.task(workers="cluster")  # type: ignore[arg-type]


async def test_a_worker_killed_mid_task_has_it_rerun_elsewhere_and_recorded_once(
    dask_client: Client, tmp_path: Path
) -> None:
    worker_pids(dask_client)
    started, go = tmp_path / "started", tmp_path / "go"
    started.mkdir()
    store = MemoryStore()
    async with DaskWorkers(dask_client) as workers:
        pipeline = Pipeline("killed", workers=workers, store=store)

        @pipeline.task()
        def slow() -> str:
            (started / str(os.getpid())).touch()
            deadline = time.monotonic() + 60
            while not go.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            return f"done in {os.getpid()}"

        async with pipeline:
            run = pipeline.start()
            await until(lambda: any(started.iterdir()), "the task started on a worker")
            (first,) = (int(path.name) for path in started.iterdir())
            os.kill(first, signal.SIGKILL)
            await until(lambda: len(list(started.iterdir())) == 2, "the task started again")
            go.touch()
            report = pipeline.get_run_report(await run.wait())
    assert report["status"] == "SUCCESS"
    (second,) = {int(path.name) for path in started.iterdir()} - {first}
    assert report["tasks"]["slow"]["result"] == f"done in {second}"
    nodes, events = await recorded(store, run.id)
    assert nodes == {"slow": "succeeded"}
    assert events["NodeStarted"] == events["NodeSucceeded"] == 1
    assert events["NodeRetrying"] == events["NodeFailed"] == 0


def endless(timeout_s: float | None = None) -> dict[str, Any]:
    spin = python("spin", "def main(args):\n    while True:\n        pass\n", {"x": ref("start_0", "x")})
    if timeout_s is not None:
        spin["timeoutS"] = timeout_s
    return chain(start(x="number"), spin, end(y=ref("spin", "y")))


async def test_canceling_a_run_stops_its_script_on_the_worker(dask_client: Client) -> None:
    worker_pids(dask_client)
    async with DaskWorkers(dask_client) as workers, flowloom.Engine(workers=workers) as engine:
        run = engine.start(endless(), {"x": 1})
        await until(lambda: executing(dask_client) == 1, "the script runs on a worker")
        assert run.cancel()
        await run.join()
        assert run.status == Status.CANCELED
        await until(lambda: executing(dask_client) == 0, "the worker's thread is free again")


async def test_a_node_timeout_stops_its_script_on_the_worker(dask_client: Client) -> None:
    worker_pids(dask_client)
    async with DaskWorkers(dask_client) as workers, flowloom.Engine(workers=workers) as engine:
        run = await engine.run(endless(timeout_s=1), {"x": 1})
        assert run.status == Status.FAILED
        assert run.error is not None and 'Node "spin" timed out after 1s' in run.error
        await until(lambda: executing(dask_client) == 0, "the worker's thread is free again")


async def test_the_sandbox_time_limit_holds_on_the_worker(dask_client: Client) -> None:
    services = flowloom.Services(code_limits=CodeLimits(time_limit_s=0.5))
    async with (
        DaskWorkers(dask_client) as workers,
        flowloom.Engine(workers=workers, services=services) as engine,
    ):
        run = await engine.run(endless(), {"x": 1})
    assert run.status == Status.FAILED
    assert run.error is not None and "time limit of 0.5 s exceeded" in run.error


async def test_the_sandbox_rules_hold_on_the_worker(dask_client: Client) -> None:
    script = "import os\ndef main(args):\n    return {'y': os.getpid()}\n"
    workflow = chain(start(x="number"), python("a", script, {"x": ref("start_0", "x")}), end(y=ref("a", "y")))
    async with DaskWorkers(dask_client) as workers, flowloom.Engine(workers=workers) as engine:
        run = await engine.run(workflow, {"x": 1})
    assert run.status == Status.FAILED
    assert run.error is not None and "os" in run.error and "import" in run.error.lower()


async def test_an_unreachable_scheduler_fails_the_node_with_its_address() -> None:
    workers = DaskWorkers("tcp://127.0.0.1:9", connect_timeout_s=0.5)
    async with workers, flowloom.Engine(workers=workers) as engine:
        run = await engine.run(endless(), {"x": 1})
    assert run.status == Status.FAILED
    assert run.error is not None and "tcp://127.0.0.1:9" in run.error


def flowloom_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "flowloom"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_the_cli_runs_node_work_on_the_cluster_it_names(dask_client: Client, tmp_path: Path) -> None:
    workflow = tmp_path / "fan_out.json"
    workflow.write_text(json.dumps(fan_out()))
    address = dask_client.scheduler.address
    with get_task_stream(dask_client) as stream:
        by_option = flowloom_cli("run", str(workflow), "--inputs", '{"x": 2}', "--json", "--workers", address)
        by_env = flowloom_cli(
            "run", str(workflow), "--inputs", '{"x": 2}', "--json", env={"FLOWLOOM_DASK_ADDRESS": address}
        )
    runs = []
    for result in (by_option, by_env):
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["outputs"] == {"a": 4, "b": 3, "c": 20}
        runs.append(report["run_id"])
    ran = sorted(task["key"].rsplit("-", 1)[0] for task in stream.data)
    assert ran == sorted(f"flowloom-{run}-{n}-0-1" for run in runs for n in "ab")


def test_the_cli_refuses_a_workers_value_that_is_no_address(tmp_path: Path) -> None:
    workflow = tmp_path / "fan_out.json"
    workflow.write_text(json.dumps(fan_out()))
    result = flowloom_cli("run", str(workflow), "--workers", "somewhere")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "error: --workers: expected 'threads' or a Dask scheduler address such as tcp://host:8786, "
        "got 'somewhere'"
    )
    bad_lease = flowloom_cli("serve", "--lease-ttl", "0", "--no-store")
    assert bad_lease.returncode == 2
    assert bad_lease.stderr.strip() == "error: --lease-ttl: expected a positive number of seconds, got 0"


def test_a_server_runs_node_work_on_the_cluster_its_environment_names(dask_client: Client) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {**os.environ, "FLOWLOOM_DASK_ADDRESS": dask_client.scheduler.address}
    command = [str(Path(sys.executable).parent / "flowloom"), "serve", "--port", str(port), "--no-store"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + _DEADLINE_S
            while True:
                assert server.poll() is None, server.communicate()[1]
                try:
                    if client.get("/info").status_code == 200:
                        break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "the server did not start"
                    time.sleep(0.05)
            with get_task_stream(dask_client) as stream:
                started = client.post("/api/v1/runs", json={"workflow": fan_out(), "inputs": {"x": 5}})
                assert started.status_code == 201, started.text
                run_id = started.json()["id"]
                deadline = time.monotonic() + _DEADLINE_S
                while (detail := client.get(f"/api/v1/runs/{run_id}").json())["status"] == "processing":
                    assert time.monotonic() < deadline, "the run did not end"
                    time.sleep(0.05)
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert detail["status"] == "succeeded", detail
    assert detail["report"]["outputs"] == {"a": 10, "b": 6, "c": 50}
    ran = sorted(task["key"].rsplit("-", 1)[0] for task in stream.data)
    assert ran == [f"flowloom-{run_id}-{n}-0-1" for n in "ab"]


async def test_canceling_a_run_drops_its_calls_not_started(dask_client: Client, tmp_path: Path) -> None:
    worker_pids(dask_client)
    started, go = tmp_path / "started", tmp_path / "go"
    started.mkdir()
    async with DaskWorkers(dask_client) as workers:
        pipeline = Pipeline("dropped", workers=workers, max_parallel=3)

        def blocked(name: str) -> Callable[[], str]:
            def task() -> str:
                (started / name).touch()
                deadline = time.monotonic() + 60
                while not go.exists() and time.monotonic() < deadline:
                    time.sleep(0.02)
                return name

            return task

        for name in ("one", "two", "three"):
            pipeline.task(name, deps=[])(blocked(name))
        async with pipeline:
            run = pipeline.start()
            await until(lambda: len(list(started.iterdir())) == 2, "both workers run a task")
            assert run.cancel()
            await run.wait()
            go.touch()
            await until(lambda: executing(dask_client) == 0, "the workers' threads are free again")
    assert len(list(started.iterdir())) == 2  # the third call never started


async def test_an_engine_given_an_address_connects_and_closes_its_client(dask_client: Client) -> None:
    address = dask_client.scheduler.address
    async with flowloom.Engine(workers=address) as engine:
        run = await engine.run(fan_out(), {"x": 1})
        workers = engine.services.workers
        assert workers is not None and isinstance(workers.get(), DaskWorkers)
        client = workers.get().client
    assert await run.wait() == {"a": 2, "b": 2, "c": 10}
    assert client.status == "closed"
    with pytest.raises(ValueError, match="not both"):
        flowloom.Engine(
            workers=address, services=flowloom.Services(workers=flowloom.Lazy.of(DaskWorkers(address)))
        )


def shell_workflow(script: str, **config: Any) -> dict[str, Any]:
    """A flowengine workflow of one shell.exec node running ``sh -c script``."""
    command = {"command": "sh", "args": ["-c", script], **config}
    return {"nodes": [{"id": "sh", "node_type": "shell.exec", "config": command}], "connections": []}


async def test_shell_commands_run_on_the_cluster_with_their_output_and_log_lines(
    dask_client: Client,
) -> None:
    pids = worker_pids(dask_client)
    script = 'echo "$PPID"; echo "$GREETING" >&2; exit 3'
    document = shell_workflow(script, env={"GREETING": "hi"}, stream_output=True, fail_on_error=False)
    logs: list[NodeLog] = []
    async with DaskWorkers(dask_client) as workers, flowloom.Engine(workers=workers) as engine:
        engine.bus.add_listener(lambda event: logs.append(event) if isinstance(event, NodeLog) else None)
        finished = await engine.run(document, {})
    outputs = finished.node_state("sh")[2]
    assert outputs is not None and (outputs["exit_code"], outputs["stderr"]) == (3, "hi\n")
    assert int(outputs["stdout"]) in pids  # the command's parent: a worker process of the cluster
    assert [(log.stream, log.line) for log in logs] == [("stdout", outputs["stdout"]), ("stderr", "hi")]


async def test_a_shell_timeout_on_the_cluster_kills_the_command_group(
    dask_client: Client, tmp_path: Path
) -> None:
    worker_pids(dask_client)
    marker = tmp_path / "left"
    # the group's background child would write the marker after 2 s if it survived the timeout
    document = shell_workflow(f"(sleep 2; touch {marker}) & sleep 30", timeout=0.5)
    async with DaskWorkers(dask_client) as workers, flowloom.Engine(workers=workers) as engine:
        finished = await engine.run(document, {})
    assert finished.status is Status.FAILED
    assert finished.node_state("sh")[3] == "Timeout after 0.5s"
    await anyio.sleep(2.5)
    assert not marker.exists()
    await until(lambda: executing(dask_client) == 0, "the worker's thread is free again")
