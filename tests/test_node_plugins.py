"""Node types installed packages declare in the ``flowloom.nodes`` entry-point group, read on first need.

Each test runs a fresh interpreter with a tiny installed distribution (``*.dist-info`` with an
``entry_points.txt``) on its path, as ``pip install`` would leave one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import ClassVar

import pytest

import flowloom
from _workflows import chain, end, node, props, ref, start

PLUGIN = '''
from typing import ClassVar

import flowloom


class Twice:
    """Doubles its input ``x``."""

    type: ClassVar[str] = "twice"

    async def execute(self, ctx: flowloom.NodeContext) -> flowloom.NodeResult:
        return flowloom.NodeResult(outputs={"x": ctx.inputs["x"] * 2})
'''


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A directory holding the module ``twice_nodes`` and the distribution that declares it."""
    (tmp_path / "twice_nodes.py").write_text(PLUGIN)
    dist = tmp_path / "twice_nodes-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: twice-nodes\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[flowloom.nodes]\ntwice = twice_nodes:Twice\n")
    return tmp_path


def run_python(site: Path, code: str) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_workflow_uses_an_installed_node_type(site: Path) -> None:
    schema = chain(
        start(x="number"),
        node(
            "twice_0",
            "twice",
            inputs=props(x="number"),
            inputsValues={"x": ref("start_0", "x")},
            outputs=props(x="number"),
        ),
        end(x=ref("twice_0", "x")),
    )
    out = run_python(
        site,
        f"""
        import flowloom
        print(flowloom.run_sync({json.dumps(schema)!r}, {{"x": 21}}))
        """,
    )
    assert out.strip() == "{'x': 42}"


def test_installed_packages_are_scanned_only_when_needed(site: Path) -> None:
    out = run_python(
        site,
        """
        import sys
        import flowloom

        registry = flowloom.NodeRegistry.default()
        print(registry.get("start") is not None, "importlib.metadata" in sys.modules)
        print("twice" in registry, [e.type for e in registry if e.type == "twice"])
        print("twice" in flowloom.NodeRegistry.default(load_entry_points=False))
        """,
    )
    assert out.splitlines() == ["True False", "True ['twice']", "False"]


def test_registering_an_installed_node_type_again_is_refused(site: Path) -> None:
    out = run_python(
        site,
        """
        import flowloom
        from twice_nodes import Twice

        engine = flowloom.Engine()
        try:
            engine.register_executor(Twice())
        except ValueError as exc:
            print(exc)
        engine.register_executor(Twice(), replace=True)
        print(len([e for e in engine.nodes if e.type == "twice"]))
        """,
    )
    assert out.splitlines() == ['node type "twice" is already registered; pass replace=True to override', "1"]


def test_built_in_node_types_are_imported_on_first_use() -> None:
    """Each built-in executor's module is imported when its type is first asked for, and it is the
    executor of that type; replacing a built-in that was never imported replaces it."""
    code = """
import sys
from flowloom.nodes import NodeRegistry
from flowloom.nodes._registry import _BUILTINS
registry = NodeRegistry.default(load_entry_points=False)
print("flowloom.nodes.http" in sys.modules, registry.get("http").type, "flowloom.nodes.http" in sys.modules)
plain = [e for e in registry if not e.type.startswith("vf.")]  # VisualFlow's family is listed on its own
print(len(plain) == len(_BUILTINS), all(registry.get(e.type) is e for e in registry))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["False http True", "True True"]

    class Shout:
        type: ClassVar[str] = "llm"

        async def execute(self, ctx: flowloom.NodeContext) -> flowloom.NodeResult:
            return flowloom.NodeResult(outputs={})

    registry = flowloom.NodeRegistry.default(load_entry_points=False)
    with pytest.raises(ValueError, match='node type "llm" is already registered'):
        registry.register(Shout())
    registry.register(Shout(), replace=True)
    assert isinstance(registry.get("llm"), Shout)
    assert sorted(executor.type for executor in registry) == sorted(
        executor.type for executor in flowloom.NodeRegistry.default(load_entry_points=False)
    )
