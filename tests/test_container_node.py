"""docker.run against Podman's Docker-compatible API service (scripts/containers.sh installs Podman and
builds a local image from busybox and the system's python3: no registry is reachable here)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import flowloom
from _containers import IMAGE, podman_service
from _heavy import heavy_node, refusal, run_nodes, workflow
from flowloom.nodes.containers import DockerClient

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def docker_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with podman_service(tmp_path_factory.mktemp("podman")) as socket_path:
        yield socket_path


@pytest.fixture
async def engine(docker_socket: str) -> AsyncIterator[flowloom.Engine]:
    client = DockerClient(docker_socket)
    engine = flowloom.Engine(services=flowloom.Services(containers=flowloom.Lazy.of(client)))
    yield engine
    await engine.aclose()
    await client.aclose()


def docker(node_id: str, command: object, **config: object) -> dict[str, object]:
    inputs = config.pop("inputs", {})
    base = {"image": IMAGE, "auto_pull": False, "stdin_mode": "none", "command": command}
    return heavy_node(node_id, "docker.run", base | config, **inputs)  # type: ignore[arg-type]


async def test_commands_stdin_and_outputs(engine: flowloom.Engine, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("mounted\n")
    flat = (
        "import sys, json; d = json.load(sys.stdin); "
        "print(json.dumps({'doubled': d['value'] * 2, 'keys': sorted(d)}))"
    )
    document = workflow(
        docker("quotes", "sh -c 'echo a  b; echo e >&2; exit 3'"),
        docker("entry", ["echo ep"], entrypoint=["sh", "-c"]),
        docker("flat", ["python3", "-c", flat], stdin_mode="json", inputs={"value": 21, "label": "x"}),
        docker(
            "wrapped",
            ["cat"],
            stdin_mode="json",
            io_mode="wrapped",
            inputs={"n": 21, "s": "x", "o": {"k": [1]}},
        ),
        docker("raw", "wc -c", stdin_mode="raw", inputs={"data": "abcd"}),
        docker("text", "echo 42", output_mode="text"),
        docker("who", ["sh", "-c", "echo $A $(pwd) $(id -u)"], env={"A": "1"}, workdir="/tmp", user="1234"),
        docker(
            "volume",
            ["sh", "-c", "cat /data/in.txt; touch /data/w 2>/dev/null || echo ro"],
            volumes=[f"{tmp_path}:/data:ro"],
        ),
        docker("net", ["sh", "-c", "ls /sys/class/net"], network="none"),
    )
    found = await run_nodes(engine, document)
    assert found["quotes"]["outputs"] == {
        "output": "a b\n",
        "stdout": "a b\n",
        "stderr": "e\n",
        "exit_code": 3,
        "success": False,
    }
    assert found["entry"]["outputs"]["stdout"] == "ep\n"
    assert found["flat"]["outputs"]["output"] == {"doubled": 42, "keys": ["label", "value"]}
    assert found["wrapped"]["outputs"]["output"] == {
        "n": {"type": "Number", "value": 21},
        "s": {"type": "String", "value": "x"},
        "o": {"type": "Json", "value": {"k": [1]}},
    }
    assert found["raw"]["outputs"]["output"] == 4
    assert found["text"]["outputs"]["output"] == "42\n"
    assert found["who"]["outputs"]["stdout"] == "1 /tmp 1234\n"
    assert found["volume"]["outputs"]["stdout"] == "mounted\nro\n"
    assert not (tmp_path / "w").exists()
    assert found["net"]["outputs"]["stdout"] == "lo\n"


async def test_limits_timeout_detached_and_errors(engine: flowloom.Engine) -> None:
    document = workflow(
        docker(
            "greedy",
            ["python3", "-c", "x = bytearray(512 * 1024 * 1024)"],
            auto_pull=True,
            cpu_limit="0.5",
            memory_limit="64m",
        ),
        docker("slow", "sleep 30", timeout=1),
        docker("detached", "sleep 1", detached=True),
        docker("notjson", "echo notjson", output_mode="json"),
        docker("nodata", "cat", stdin_mode="raw"),
        docker("noimage", "true", image="localhost/no-such-image:1"),
    )
    found = await run_nodes(engine, document)
    assert found["greedy"]["outputs"]["success"] is False
    assert found["slow"]["error"] == "Timeout after 1s"
    container_id = found["detached"]["outputs"]["stdout"].strip()
    assert len(container_id) == 64 and found["detached"]["outputs"]["exit_code"] == 0
    assert found["notjson"]["error"].startswith("Execution failed: Failed to parse JSON output: ")
    assert found["nodata"]["error"] == "Missing required input: data"
    assert found["noimage"]["error"] == (
        'Execution failed: Docker error: no such image "localhost/no-such-image:1" (config key "image"; '
        "auto_pull is off)"
    )
    assert refusal(engine, docker("badsize", "true", memory_limit="lots")) == [
        'node "badsize": config key "memory_limit" is "lots", not a size'
    ]


async def test_an_unreachable_engine_is_a_clear_error(tmp_path: Path) -> None:
    client = DockerClient(str(tmp_path / "nothing.sock"))
    engine = flowloom.Engine(services=flowloom.Services(containers=flowloom.Lazy.of(client)))
    try:
        found = await run_nodes(engine, workflow(docker("d", "true")))
    finally:
        await engine.aclose()
        await client.aclose()
    assert found["d"]["error"].startswith(
        f"Execution failed: Docker error: cannot reach the Docker Engine API at {tmp_path}/nothing.sock"
    )
