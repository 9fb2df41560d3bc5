"""``nodes/_kit.py``, the one module the flowengine-style node families share: a key's ``choices`` checked
after its ``fold`` (or exactly), and ``file:<path>`` ports as files, never as environment variables."""

from __future__ import annotations

from typing import ClassVar

import flowloom
from _heavy import heavy_node, refusal
from flowloom.ir import Node
from flowloom.nodes._kit import Key, KitNode, injected_files, inputs_as_env


class _Exact(KitNode):
    keys: ClassVar[tuple[Key, ...]] = (Key(name="mode", types=("string",), choices=("fast", "slow")),)


def _node(**config: object) -> Node:
    return Node(id="n", type="exact", data={"config": config})


def test_choices_without_fold_are_exact() -> None:
    assert _Exact().config_errors(_node(mode="fast")) == []
    assert _Exact().config_errors(_node(mode="FAST")) == [
        'node "n": config key "mode" is "FAST", expected one of fast, slow'
    ]


def test_http_method_is_folded_to_upper_case() -> None:
    engine = flowloom.Engine()
    assert refusal(engine, heavy_node("h", "http.request", {"method": "post"})) == []
    assert refusal(engine, heavy_node("h", "http.request", {"method": "patch"})) == [
        'node "h": config key "method" is "patch", expected one of GET, POST, PUT, DELETE'
    ]


def test_container_and_browser_modes_are_folded_to_lower_case() -> None:
    engine = flowloom.Engine()
    assert refusal(engine, heavy_node("d", "docker.run", {"image": "x", "stdin_mode": "JSON"})) == []
    assert refusal(engine, heavy_node("b", "browser.render", {"html": "<p>", "mode": "Text"})) == []
    assert refusal(engine, heavy_node("d", "docker.run", {"image": "x", "output_mode": "xml"})) == [
        'node "d": config key "output_mode" is "xml", expected one of auto, json, text'
    ]


def test_file_ports_are_files_not_environment_variables() -> None:
    inputs = {"name": "ada", "file:/tmp/a.txt": "hello", "files": {"/b": 1}, "skipped": "x", "empty": None}
    assert inputs_as_env(inputs, skip=("files", "skipped")) == {"NAME": "ada"}
    assert injected_files(inputs) == {"/b": "1", "/tmp/a.txt": "hello"}
