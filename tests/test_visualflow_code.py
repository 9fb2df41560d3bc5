"""VisualFlow's code and function nodes and pin expressions: user Python runs in the sandbox (a worker
process under RestrictedPython), never in the engine's process; its failures name the node and the line of
the user's code; files, processes and the network are out of reach; a runaway script is stopped."""

from __future__ import annotations

from typing import Any

import pytest

import flowloom
from flowloom.engine import CodeLimits, Services
from flowloom.ir import Status
from test_visualflow import EXEC, edge, node, pin

pytestmark = pytest.mark.anyio


def code_flow(body: str, *, label: str = "Calc", inputs: tuple[str, ...] = ("n",)) -> dict[str, Any]:
    """start → code (``body``) → end, the code's ``value`` output wired to the end's ``value``."""
    return {
        "id": "code-unit",
        "nodes": [
            node("start", "on_flow_start", [], [pin("exec-out", EXEC), *(pin(p) for p in inputs)]),
            node(
                "calc",
                "code",
                [pin("exec-in", EXEC), *(pin(p) for p in inputs)],
                [pin("exec-out", EXEC), pin("value")],
                label=label,
                codeBody=body,
            ),
            node("end", "on_flow_end", [pin("exec-in", EXEC), pin("value")], []),
        ],
        "edges": [
            edge("start", "exec-out", "calc", "exec-in"),
            edge("calc", "exec-out", "end", "exec-in"),
            edge("calc", "value", "end", "value"),
            *(edge("start", p, "calc", p) for p in inputs),
        ],
    }


async def run(flow: dict[str, Any], inputs: dict[str, Any], **engine: Any) -> flowloom.Run:
    async with flowloom.Engine(**engine) as eng:
        return await eng.run(flow, inputs)


async def test_private_names_helpers_and_imports_work() -> None:
    body = (
        "import json\n"
        "def _twice(x):\n"
        "    return x * 2\n"
        "class Box:\n"
        "    def __init__(self, v):\n"
        "        self._v = v\n"
        "return {'value': to_json({'n': _twice(_input['n']), 'box': Box(n)._v})}"
    )
    result = await run(code_flow(body), {"n": 4})
    assert result.status is Status.SUCCEEDED, result.error
    assert await result.wait() == {"value": '{"n": 8, "box": 4}', "success": True}


async def test_a_syntax_error_and_an_unknown_private_name_read_as_written() -> None:
    result = await run(code_flow("x = (\nreturn {'value': _nope}"), {"n": 1})
    assert result.error is not None and "Syntax error" in result.error and "of codeBody" in result.error
    result = await run(code_flow("return {'value': _nope}"), {"n": 1})
    assert result.error is not None
    assert "name '_nope' is not defined (NameError, line 1 of codeBody)" in result.error


async def test_an_exception_names_the_node_and_the_line() -> None:
    body = "a = n + 1\nb = a * 2\nc = {}['missing']\nreturn {'value': c}"
    result = await run(code_flow(body), {"n": 1})
    assert result.status is Status.FAILED
    assert result.error is not None
    assert "Node 'calc' (Calc)" in result.error
    assert "KeyError" in result.error and "line 3 of codeBody" in result.error


@pytest.mark.parametrize(
    ("body", "refusal"),
    [
        ("return {'value': open('/etc/passwd').read()}", "name 'open' is not defined"),
        ("import socket\nreturn {'value': 1}", "import of 'socket' is not allowed in the sandbox"),
        ("import os\nreturn {'value': os.listdir('/')}", "import of 'os' is not allowed in the sandbox"),
        ("import subprocess\nreturn {'value': 1}", "import of 'subprocess' is not allowed"),
        ("return {'value': ().__class__}", '"__class__" is an invalid attribute name'),
    ],
)
async def test_files_processes_and_network_are_out_of_reach(body: str, refusal: str) -> None:
    result = await run(code_flow(body), {"n": 1})
    assert result.status is Status.FAILED
    assert result.error is not None and refusal in result.error
    assert "Node 'calc' (Calc)" in result.error


async def test_a_runaway_script_is_stopped_at_its_time_limit() -> None:
    services = Services(code_limits=CodeLimits(time_limit_s=0.5))
    result = await run(code_flow("while True:\n    n = n + 1"), {"n": 1}, services=services)
    assert result.status is Status.FAILED
    assert result.error is not None and "Node 'calc' (Calc)" in result.error
    assert "time" in result.error.lower()


TAG = {"name": "tag", "code": "def tag(s):\n    return _wrap(s)\n"}


async def test_a_pure_function_node_and_pin_expressions_use_the_function_library() -> None:
    flow = {
        "id": "fn-lib",
        "functions": [
            {
                "name": "tag",
                "code": "def _wrap(s):\n    return '<' + s + '>'\ndef tag(s):\n    return _wrap(s)\n",
            }
        ],
        "nodes": [
            node("start", "on_flow_start", [], [pin("exec-out", EXEC), pin("word")]),
            node("fn", "function", [pin("word")], [pin("result")], expression="tag(word.upper())"),
            node(
                "end",
                "on_flow_end",
                [pin("exec-in", EXEC), pin("shout"), pin("count")],
                [],
                pinExpressions={"count": "len(tag(vars.word)) + value", "shout": "value + '!'"},
                pinDefaults={"count": 10},
            ),
        ],
        "edges": [
            edge("start", "exec-out", "end", "exec-in"),
            edge("start", "word", "fn", "word"),
            edge("fn", "result", "end", "shout"),
        ],
    }
    result = await run(flow, {"word": "hi"})
    assert result.status is Status.SUCCEEDED, result.error
    assert await result.wait() == {"shout": "<HI>!", "count": 14, "success": True}


def test_a_flow_function_importing_os_is_refused_when_it_compiles() -> None:
    flow = code_flow("return {'value': 1}")
    flow["functions"] = [{"name": "evil", "code": "import os\ndef evil():\n    return os.getcwd()\n"}]
    with pytest.raises(flowloom.InvalidWorkflowError, match="flow function 'evil', line 1: import of 'os'"):
        flowloom.Engine().load(flow)


def test_private_names_inside_f_strings_are_renamed_where_they_stand() -> None:
    """Before Python 3.12 an f-string is one token: its replacement fields are renamed too (AbstractFlow's
    own flows write ``f"Echo: {_input.get('input')}"``), its literal text and ``{{`` escapes are not."""
    from flowloom.nodes.visual._script import PRIVATE, rename_private

    code = 'def t(_input):\n    return f"""_lit {{_esc}}\n{_input.get("a")}"""\n'
    renamed = rename_private(code)
    assert renamed.splitlines()[0] == f"def t({PRIVATE}_input):"
    assert renamed.splitlines()[1] == '    return f"""_lit {{_esc}}'
    assert renamed.splitlines()[2] == f'{{{PRIVATE}_input.get("a")}}"""'
