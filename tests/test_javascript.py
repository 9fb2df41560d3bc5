"""The QuickJS runner of the code node, on the real engine (SPEC §A8, deviation D2)."""

from __future__ import annotations

import json
import threading
from typing import Any

import anyio
import pytest

from flowloom.workers._javascript import (
    JavaScriptError,
    JavaScriptLimits,
    JavaScriptMemoryError,
    JavaScriptStackOverflow,
    JavaScriptTimeout,
    rewrite_stack_for_upstream,
    run_javascript,
)

SHORT = JavaScriptLimits(time_limit_s=0.2)
TRIVIAL = "async function main({ params }) { return { y: params.x + 1 }; }"


def failure(content: str, params: dict[str, Any] | None = None, limits: JavaScriptLimits = SHORT) -> str:
    with pytest.raises(JavaScriptError) as caught:
        run_javascript(content, params or {}, limits)
    assert type(caught.value) is JavaScriptError
    return str(caught.value)


# -- results ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("keyword", ["async function", "function"])
def test_sync_and_async_main_run_alike(keyword: str) -> None:
    content = f"{keyword} main({{ params }}) {{\n"
    content += "  return { sum: params.a + params.b, n: params.list.length };\n}"
    assert run_javascript(content, {"a": 1, "b": 2.5, "list": [1, 2, 3]}) == {"sum": 3.5, "n": 3}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("42", 42),
        ("'text'", "text"),
        ("true", True),
        ("[1, 'a', null, { b: 2 }]", [1, "a", None, {"b": 2}]),
        ("{ a: { b: [1.5] } }", {"a": {"b": [1.5]}}),
        ("null", None),
        ("undefined", None),
        ("2.0", 2),
        ("1e21", 1e21),
        ("NaN", None),
        ("new Date(0)", "1970-01-01T00:00:00.000Z"),
        ("{ at: new Date(0), skip: undefined, f() {} }", {"at": "1970-01-01T00:00:00.000Z"}),
        ("() => 1", None),
    ],
)
@pytest.mark.parametrize("keyword", ["async function", "function"])
def test_results_are_json_values(keyword: str, expression: str, expected: Any) -> None:
    result = run_javascript(f"{keyword} main() {{ return {expression}; }}", {})
    assert result == expected
    assert type(result) is type(expected)


def test_awaited_results_settle() -> None:
    content = """
async function later(value) { await null; return value; }
async function main({ params }) {
  const parts = await Promise.all([later(params.a), later(params.b)]);
  return parts.join('-');
}"""
    assert run_javascript(content, {"a": "x", "b": "y"}) == "x-y"


def test_sync_main_returning_a_promise_is_awaited() -> None:
    assert run_javascript("function main() { return Promise.resolve(7); }", {}) == 7


def test_params_round_trip() -> None:
    params = {
        "text": 'héllo wörld 😀 \u2028 "quoted" \\ </script>',
        "nested": {"list": [1, 2.5, None, True, False, {"deep": ["x"]}], "empty": {}, "none": []},
        "number": -0.125,
        "big": 2**53,
    }
    assert run_javascript("async function main({ params }) { return params; }", params) == params


def test_params_keep_javascript_semantics() -> None:
    content = "async function main({ params }) { return { keys: Object.keys(params.o), n: params.n + 1 }; }"
    result = run_javascript(content, {"o": {"b": 1, "2": 2, "a": 3}, "n": 1})
    assert result == {"keys": ["2", "b", "a"], "n": 2}


def test_non_finite_params_become_null_as_in_json() -> None:
    assert run_javascript("async function main({ params }) { return params; }", {"x": float("inf")}) == {
        "x": None
    }


def test_params_that_are_not_json_fail_clearly() -> None:
    circular: dict[str, Any] = {}
    circular["self"] = circular
    assert failure(TRIVIAL, circular).startswith("params cannot be converted to JSON")


def test_an_error_object_result_is_dumped_like_upstream() -> None:
    result = run_javascript("async function main() { return new Error('kept'); }", {})
    stack = "    at main (eval.js:4:41)\n    at <eval> (eval.js:11:5)\n"
    assert result == {"name": "Error", "message": "kept", "stack": stack}


def test_results_json_cannot_encode_fail_clearly() -> None:
    message = failure("async function main() { const o = {}; o.o = o; return o; }")
    assert message.startswith("main returned a value that cannot be converted to JSON: ")
    assert failure("async function main() { return 10n; }").startswith("main returned a value")


# -- errors -----------------------------------------------------------------------------------------------

# Recorded upstream (code-js-throw-error): the exact text after "Code execution failed: ".
UPSTREAM_THROW = (
    '{"name":"Error","message":"boom","stack":"    at main (eval.js:4:50)\\n    at <eval> (eval.js:11:5)\\n"}'
)


def test_thrown_error_matches_upstream_byte_for_byte() -> None:
    assert failure("async function main({ params }) { throw new Error('boom'); }") == UPSTREAM_THROW


def test_sync_main_throwing_is_reported_like_async() -> None:
    message = failure("function main({ params }) { throw new Error('boom'); }")
    assert json.loads(message) == {
        "name": "Error",
        "message": "boom",
        "stack": "    at main (eval.js:4:44)\n    at <eval> (eval.js:11:5)\n",
    }


def test_error_after_await_in_a_helper() -> None:
    content = "\nfunction helper() {\n  return nope.x;\n}\n"
    content += "async function main() {\n  await null;\n  return helper();\n}"
    assert json.loads(failure(content)) == {
        "name": "ReferenceError",
        "message": "nope is not defined",
        "stack": "    at helper (eval.js:6:10)\n    at main (eval.js:10:16)\n",
    }


@pytest.mark.parametrize("keyword", ["async function", "function"])
def test_thrown_string_is_the_message(keyword: str) -> None:
    assert failure(f"{keyword} main({{ params }}) {{ throw 'bad input'; }}") == "bad input"


@pytest.mark.parametrize(
    ("thrown", "message"),
    [("{ a: 1, b: [2] }", '{"a":1,"b":[2]}'), ("42", "42"), ("null", "null"), ("undefined", "")],
)
def test_other_thrown_values_are_their_json(thrown: str, message: str) -> None:
    assert failure(f"async function main() {{ throw {thrown}; }}") == message


def test_custom_error_keeps_its_enumerable_fields_first() -> None:
    content = (
        "class Oops extends Error { constructor() { super('m'); this.name = 'Oops'; this.code = 7; } }\n"
        "async function main() { throw new Oops(); }"
    )
    dumped = json.loads(failure(content))
    assert list(dumped) == ["name", "code", "message", "stack"]
    assert dumped["name"] == "Oops"
    assert dumped["code"] == 7


def test_missing_main() -> None:
    assert failure("const x = 1;") == "main function is required in the script"


def test_syntax_error_is_its_message() -> None:
    assert failure("async function main() { return ; + }") == "unexpected token in expression: '}'"


def test_top_level_throw_is_its_message() -> None:
    assert failure("throw new TypeError('at load');\nasync function main() {}") == "at load"
    assert failure("throw 'plain';") == "plain"


def test_script_the_binding_cannot_take() -> None:
    assert "NUL" in failure("async function main() { return 1; }\0")


# -- limits -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        "async function main() { while (true) {} }",
        "function main() { for (;;) {} }",
        "while (true) {}\nasync function main() {}",
        "async function main() { for (;;) await null; }",
    ],
    ids=["async", "sync", "top-level", "microtasks"],
)
def test_infinite_loop_times_out(content: str) -> None:
    with pytest.raises(JavaScriptTimeout) as caught:
        run_javascript(content, {}, SHORT)
    assert str(caught.value).startswith("interrupted")


@pytest.mark.parametrize(
    "content",
    [
        "async function main() { const a = []; for (;;) a.push(new Array(100000).fill(1)); }",
        "const a = [];\nfor (;;) a.push('x'.repeat(100000) + a.length);\nasync function main() {}",
    ],
    ids=["main", "top-level"],
)
def test_unbounded_allocation_runs_out_of_memory(content: str) -> None:
    limits = JavaScriptLimits(memory_bytes=8 * 1024 * 1024, time_limit_s=10.0)
    with pytest.raises(JavaScriptMemoryError) as caught:
        run_javascript(content, {}, limits)
    assert str(caught.value).startswith("out of memory")


@pytest.mark.parametrize(
    "content",
    [
        "function down(n) { return down(n + 1) + 1; }\nasync function main() { return down(0); }",
        "function down(n) { return down(n + 1) + 1; }\ndown(0);\nfunction main() {}",
    ],
    ids=["main", "top-level"],
)
def test_deep_recursion_is_an_error_not_a_crash(content: str) -> None:
    with pytest.raises(JavaScriptStackOverflow) as caught:
        run_javascript(content, {})
    assert str(caught.value).startswith("Maximum call stack size exceeded")


def test_a_caught_stack_overflow_is_just_javascript() -> None:
    content = (
        "function down(n) { return down(n + 1) + 1; }\n"
        "async function main() { try { return down(0); } catch (e) { return e.name; } }"
    )
    assert run_javascript(content, {}) == "RangeError"


def test_never_settling_promise_fails_clearly() -> None:
    message = failure("async function main() { await new Promise(() => {}); }")
    assert message.startswith("main never settled")


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        JavaScriptLimits(time_limit_s=0)


# -- isolation --------------------------------------------------------------------------------------------


def test_no_host_globals() -> None:
    content = (
        "async function main() { return { p: typeof process, r: typeof require, f: typeof fetch,"
        " s: typeof std, o: typeof os }; }"
    )
    assert run_javascript(content, {}) == dict.fromkeys("prfso", "undefined")


def test_the_wrapper_adds_no_global_properties() -> None:
    # Its own names are lexical (`const`), like upstream's `__params__`: no property of globalThis.
    content = (
        "async function main() { return [typeof __params__,"
        " Object.getOwnPropertyNames(globalThis).filter((name) => name.startsWith('__'))]; }"
    )
    assert run_javascript(content, {}) == ["object", []]


@pytest.mark.parametrize("keyword", ["async function", "function"])
def test_the_scripts_own_json_and_string_do_not_change_what_is_reported(keyword: str) -> None:
    tamper = "JSON.stringify = () => '\"x\"'; JSON.parse = () => ({}); String = () => 'x';\n"
    assert run_javascript(f"{tamper}{keyword} main() {{ return {{ a: [1, 'b'] }}; }}", {}) == {"a": [1, "b"]}
    main = f"{keyword} main() {{ throw new Error('boom'); }}"
    column = main.index("(", main.index("Error")) + 1
    stack = f"    at main (eval.js:5:{column})\n    at <eval> (eval.js:12:5)\n"
    assert json.loads(failure(tamper + main)) == {"name": "Error", "message": "boom", "stack": stack}
    assert failure(f"{tamper}{keyword} main() {{ throw 12; }}") == "12"


def test_an_error_like_result_whose_getters_throw_is_dumped_without_them() -> None:
    content = "async function main() { return { x: 1, get message() { throw new Error('no'); } }; }"
    assert failure(content).startswith("main returned a value that cannot be converted to JSON: no")


def test_each_run_gets_a_fresh_context() -> None:
    content = "globalThis.count = (globalThis.count || 0) + 1;\nasync function main() { return count; }"
    assert [run_javascript(content, {}) for _ in range(3)] == [1, 1, 1]


@pytest.mark.parametrize(
    ("content", "limits"),
    [
        ("async function main() { throw new Error('boom'); }", SHORT),
        ("async function main() { throw 'bad input'; }", SHORT),
        ("const x = 1;", SHORT),
        ("async function main( {", SHORT),
        ("async function main() { while (true) {} }", SHORT),
        (
            "async function main() { const a = []; for (;;) a.push(new Array(1e5).fill(1)); }",
            JavaScriptLimits(),
        ),
        ("function f() { return f() + 1; }\nasync function main() { return f(); }", SHORT),
        ("async function main() { await new Promise(() => {}); }", SHORT),
    ],
    ids=["error", "string", "no-main", "syntax", "timeout", "memory", "stack", "pending"],
)
def test_a_second_call_after_a_failure_works(content: str, limits: JavaScriptLimits) -> None:
    with pytest.raises(JavaScriptError):
        run_javascript(content, {}, limits)
    assert run_javascript(TRIVIAL, {"x": 1}) == {"y": 2}


@pytest.mark.anyio
async def test_runs_on_worker_threads() -> None:
    results: list[Any] = []

    async def one(x: int) -> None:
        results.append(await anyio.to_thread.run_sync(run_javascript, TRIVIAL, {"x": x}))

    async with anyio.create_task_group() as group:
        for x in range(8):
            group.start_soon(one, x)
    assert sorted(r["y"] for r in results) == list(range(1, 9))


def test_concurrent_threads_do_not_interfere() -> None:
    content = "async function main({ params }) { await null; return params.k * 2; }"
    mismatches: list[int] = []

    def work() -> None:
        mismatches.extend(k for k in range(100) if run_javascript(content, {"k": k}) != k * 2)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mismatches == []


# -- stack rewriting --------------------------------------------------------------------------------------


def wrapper(content: str) -> tuple[str, int]:
    """A source laid out like the runner's, and the offset of its call line."""
    prefix = (
        f"\n'use strict';\n\n{content}\n\nif (typeof main !== 'function') {{\n"
        "  throw new Error('main function is required in the script');\n}\n\nconst __params__ = {};\n"
    )
    return f"{prefix}main({{ params: __params__ }});\n", len(prefix)


def test_rewrite_points_calls_at_their_parenthesis() -> None:
    source, call = wrapper("async function main({ params }) { throw new Error('boom'); }")
    stack = "    at main (<input>:4:45)\n    at <eval> (<input>:11:16)\n"
    assert rewrite_stack_for_upstream(stack, source, call) == (
        "    at main (eval.js:4:50)\n    at <eval> (eval.js:11:5)\n"
    )


def test_rewrite_keeps_the_column_without_a_parenthesis_and_leaves_other_text() -> None:
    source, call = wrapper("function main() {\n  return nope.x;\n}")
    stack = "Error: <input>:5:10\n    at main (<input>:5:10)\n    at map (native)\n"
    assert rewrite_stack_for_upstream(stack, source, call) == (
        "Error: <input>:5:10\n    at main (eval.js:5:10)\n    at map (native)\n"
    )


def test_rewrite_counts_code_points_and_only_line_feeds() -> None:
    # quickjs-ng counts UTF-8 bytes and also ends lines at CR and U+2028; upstream does neither.
    source, call = wrapper("// é😀\rfunction main() { /* é😀 */ throw new Error('u'); }\u2028//")
    # Upstream's line 4 holds all of the content; "// é😀\rfunction main() { /* é😀 */ throw new Error"
    # is 48 code points. quickjs-ng puts `Error` on its line 5, at byte 42.
    assert rewrite_stack_for_upstream("    at main (<input>:5:42)\n", source, call) == (
        "    at main (eval.js:4:49)\n"
    )
    # The call line is line 13 for quickjs-ng (two more line breaks) and 11 upstream.
    assert rewrite_stack_for_upstream("    at <eval> (<input>:13:16)\n", source, call) == (
        "    at <eval> (eval.js:11:5)\n"
    )
