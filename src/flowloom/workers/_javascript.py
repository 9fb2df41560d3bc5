"""Run a flowgram code-node script on QuickJS the way ``@flowgram.ai/runtime-js`` 1.0.9 does.

Upstream (SPEC §A8) evaluates, in a fresh QuickJS context per execution with a 32 MB memory limit,
a 512 KB stack and a 60 s deadline, this wrapper::

    (line 1 empty)
    'use strict';
    (line 3 empty)
    <content>

    if (typeof main !== 'function') {
      throw new Error('main function is required in the script');
    }

    const __params__ = <JSON.stringify(params)>;
    main({ params: __params__ });

and takes the script's completion value (the promise of ``async function main``) as the result.

flowloom evaluates the same text on quickjs-ng, as one script, with two changes that keep every line where
upstream has it:

* the empty line 1 declares ``const __flowloom__``: a small settling helper and the pristine JSON and
  String functions (a name, like upstream's ``__params__``, that the script cannot declare itself);
* the last line wraps the call in ``try``/``catch`` and hands it to the helper, so that a non-async
  ``main`` behaves exactly like an async one (deviation D2; 1.0.9 crashes with ``Lifetime not alive``).

So line numbers, columns and strict mode are as upstream, and no property of ``globalThis`` is added. The
result is read as JSON that QuickJS writes itself (the binding's ``Object.json``); one extra snippet is
compiled only for a rejection or an Error-like result.

Errors (``JavaScriptError``; the caller prefixes ``Code execution failed: ``):

* a rejection (or a throw from ``main``) is reported like quickjs-emscripten's ``context.dump``: a string as
  itself, anything else as compact JSON; an ``Error`` gains its ``name``, ``message`` and ``stack``, the
  stack rewritten to read as upstream's QuickJS build prints it (see :func:`rewrite_stack_for_upstream`);
* an error while evaluating the script itself (a syntax error, no ``main``, a throw in top-level code) is
  reported by its message only, as quickjs-emscripten's ``unwrapResult`` does;
* exhausting the time, memory or stack limit raises :class:`JavaScriptTimeout`,
  :class:`JavaScriptMemoryError` or :class:`JavaScriptStackOverflow`, whose messages start with QuickJS's own
  words (``interrupted``, ``out of memory``, ``Maximum call stack size exceeded``).

Binding notes (quickjs-ng 0.17, its C module ``_quickjs``):

* The ``quickjs`` package around it only re-exports ``Context``, ``Object`` and ``JSException``, and starts
  a thread when imported, for a ``Function`` helper flowloom does not use. That thread costs every process
  8 MB of stack and a 64 MB malloc arena of address space, more than a sandbox worker's ``RLIMIT_AS`` of a
  small request leaves, so flowloom imports the C module itself.

* ``Context.set_time_limit`` takes seconds as a float (anything ``float()`` accepts; a negative value
  removes the limit). It is a budget of *process CPU time* (C ``clock()``), restarted at every call into
  JavaScript (``eval``, ``execute_pending_job``, calling a function). We therefore keep our own wall-clock
  deadline and, before each call, set the budget to the time that is left. Because ``clock()`` counts the
  CPU time of *all* threads of the process, scripts running concurrently on other threads make the
  interrupt fire early; a lone script gets its full limit.
* Every call that runs JavaScript releases the GIL and refreshes QuickJS's stack top for the calling
  thread, so a context may be used from any one thread, but must not be shared between threads.
* The binding passes source text as a C string: a NUL character or an unpaired surrogate in it cannot be
  evaluated. An exception reaches Python only as the text ``ToString(value) + "\\n" + String(value.stack)``,
  which is why top-level errors are parsed from that text, and why everything else is settled and
  serialised inside the sandbox.
* ``Object.json()`` is QuickJS's own ``JSON.stringify`` (``JS_JSONStringify``), which no script can replace.
  JavaScript cannot call back into Python while a time limit is set, so Python reads the result once no jobs
  are left.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import _quickjs as quickjs

__all__ = [
    "JavaScriptError",
    "JavaScriptLimits",
    "JavaScriptMemoryError",
    "JavaScriptStackOverflow",
    "JavaScriptTimeout",
    "rewrite_stack_for_upstream",
    "run_javascript",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class JavaScriptLimits:
    """Resource limits of one execution. The defaults are upstream's."""

    memory_bytes: int = 32 * 1024 * 1024
    stack_bytes: int = 512 * 1024
    time_limit_s: float = 60.0

    def __post_init__(self) -> None:
        if self.memory_bytes <= 0 or self.stack_bytes <= 0 or not self.time_limit_s > 0:
            raise ValueError(f"JavaScript limits must be positive: {self!r}")


class JavaScriptError(Exception):
    """The script failed; ``str(error)`` is what follows ``Code execution failed: ``."""


class JavaScriptTimeout(JavaScriptError):
    """The script ran past its time limit (QuickJS ``InternalError: interrupted``)."""


class JavaScriptMemoryError(JavaScriptError):
    """The script exhausted its memory limit (QuickJS ``InternalError: out of memory``)."""


class JavaScriptStackOverflow(JavaScriptError):
    """The script exhausted its stack (QuickJS ``RangeError: Maximum call stack size exceeded``)."""


# ---------------------------------------------------------------------------------------------------------
# The wrapper

# Line 1, empty upstream, holds our setup, so that the user's code (line 4 on) keeps its line numbers and
# columns. It starts with the script's 'use strict' directive (upstream's, on line 2, is then an inert
# expression statement: the whole script is strict either way). It runs before the user's code, so
# `intrinsics` are the pristine JSON.stringify, JSON.parse, String and Object.prototype.toString whatever the
# script later does to them. `settle(value, threw)`, called by the wrapper's last line, awaits `main`'s
# result through the engine's own promise machinery (a non-async `main` settles like an async one, D2) and
# leaves in `result` what Python reads, as JSON written by QuickJS itself (no JavaScript is compiled for it):
#   {state: 'P'}            still pending
#   {state: 'F', value}     fulfilled; no `value` key when it has no JSON form (undefined, a function)
#   {state: 'D'}            fulfilled with an Error-like object: ask `_DUMP` for upstream's form
#   {state: 'R'}            rejected (or `main` threw): ask `_DUMP`
# `outcome` keeps the settled value for `_DUMP`. Compiling costs QuickJS microseconds per function, which is
# the whole budget of a trivial script, so there is one function, and `_DUMP` is compiled only when needed.
_SETUP: Final = (
    "'use strict'; const __flowloom__ = { result: { state: 'P' }, outcome: undefined,"
    " intrinsics: [JSON.stringify, JSON.parse, String, Object.prototype.toString],"
    " settle: async (value, threw) => { let state = 'R';"
    " if (!threw) try { value = await value; state = 'F'; } catch (error) { value = error; }"
    " __flowloom__.outcome = value;"
    " if (state === 'F' && value !== null && typeof value === 'object') try {"
    " if (value.name !== undefined || value.message !== undefined || value.stack !== undefined) state = 'D';"
    " } catch (error) { state = 'D'; }"
    " if (state === 'F') __flowloom__.result.value = value;"
    " __flowloom__.result.state = state; } };"
)
_HEAD: Final = f"{_SETUP}\n'use strict';\n\n"
_MISSING_MAIN: Final = (
    "\n\nif (typeof main !== 'function') {\n"
    "  throw new Error('main function is required in the script');\n"
    "}\n\n"
)
#: Upstream's last line. Ours (_CALL) is on the same line, with different text; its completion value, the
#: script's, is the `result` Python reads.
_UPSTREAM_CALL: Final = "main({ params: __params__ });"
_CALL: Final = (
    "try { __flowloom__.settle(main({ params: __params__ }), false); }"
    " catch (error) { __flowloom__.settle(error, true); } __flowloom__.result"
)
_PENDING: Final = "P"
_FULFILLED: Final = "F"

# `_DUMP` evaluates to the settled value as quickjs-emscripten's context.dump (QTS_Dump) writes it: its JSON
# form, to which an object's `name`, `message` and `stack` (an Error's are not enumerable) are added where
# the JSON has none. A rejection with no JSON form is reported as its string form ('' for undefined), as
# upstream does. It answers 'F' + JSON, 'U' (fulfilled, no JSON form), 'X' + why the JSON failed, or
# 'R' + the rejection's dump.
_DUMP: Final = """((fulfilled, value, intrinsics) => {
  'use strict';
  const stringify = intrinsics[0];
  const parse = intrinsics[1];
  const toText = intrinsics[2];
  const objectToString = intrinsics[3];
  const dump = () => {
    const text = stringify(value);
    if (text === undefined || (text[0] !== '{' && text[0] !== '[')) return text;
    let copy;
    const keys = ['name', 'message', 'stack'];
    for (let i = 0; i < keys.length; i++) {
      let extra;
      try { extra = value[keys[i]]; } catch (ignored) { continue; }
      if (extra === undefined) continue;
      if (copy === undefined) copy = parse(text);
      if (copy[keys[i]] === undefined) copy[keys[i]] = extra;
    }
    return copy === undefined ? text : stringify(copy);
  };
  const asText = (thing) => {
    if (thing === undefined) return '';
    try { return toText(thing); } catch (ignored) { return objectToString.call(thing); }
  };
  let text;
  if (fulfilled) {
    try { text = dump(); } catch (error) {
      return 'X' + asText(error !== null && typeof error === 'object' ? error.message : error);
    }
    return text === undefined ? 'U' : 'F' + text;
  }
  try { text = dump(); } catch (ignored) { text = undefined; }
  return 'R' + (text === undefined ? stringify(asText(value)) : text);
})(__flowloom__.result.state !== 'R', __flowloom__.outcome, __flowloom__.intrinsics)
"""

# `restack(json, stack)` is a rejection's JSON with its `stack` replaced (keeping the key order).
_RESTACK: Final = """(json, stack) => {
  const copy = __flowloom__.intrinsics[1](json);
  copy.stack = stack;
  return __flowloom__.intrinsics[0](copy);
}
"""


# ---------------------------------------------------------------------------------------------------------
# Stack traces


_FILE_NAME: Final = "eval.js"
_NG_FILE_NAME: Final = "<input>"
#: quickjs-ng ends a line at LF, CR, CRLF, LS and PS; upstream's QuickJS build only at LF.
_NG_LINE_BREAK: Final = re.compile("\r\n|[\n\r\u2028\u2029]")
_NG_POSITION: Final = re.compile(re.escape(_NG_FILE_NAME) + r":(\d+):(\d+)")
_FRAME_PREFIX: Final = "    at "


def rewrite_stack_for_upstream(stack: str, source: str, call_line_offset: int) -> str:
    """Rewrite a quickjs-ng stack trace of ``source`` so it reads as upstream's QuickJS build prints it.

    The two engines agree on the frames but not on positions. quickjs-ng names the script ``<input>``,
    ends lines also at CR, CRLF, U+2028 and U+2029, counts columns in UTF-8 bytes, and points a call at
    (roughly) the callee's name; upstream's build (1.0.9) names it ``eval.js``, ends lines only at LF,
    counts columns in code points, and points a call at its opening parenthesis. So, for each
    ``<input>:LINE:COLUMN`` in a frame line (``    at ...``):

    * the position is located in ``source`` (quickjs-ng's line and byte column);
    * on the wrapper's call line (the line starting at ``call_line_offset``, upstream's
      ``main({ params: __params__ });``) the column is upstream's fixed 5, that line's ``(``;
    * elsewhere (the user's code, or the wrapper's ``throw new Error(...)`` line) it moves to the first
      ``(`` at or after that position on the same line, or stays put when the line has none after it;
    * it is printed as ``eval.js:LINE:COLUMN`` with upstream's line and code-point column.

    Example: ``at main (<input>:4:45)`` for ``async function main({ params }) { throw new Error('boom'); }``
    becomes ``at main (eval.js:4:50)``. Text that is not a frame position is left alone.
    """
    line_starts = [0]
    line_starts.extend(match.end() for match in _NG_LINE_BREAK.finditer(source))

    def upstream_position(match: re.Match[str]) -> str:
        line, column = int(match[1]), int(match[2])
        if not 1 <= line <= len(line_starts) or column < 1:
            return f"{_FILE_NAME}:{line}:{column}"
        start = line_starts[line - 1]
        end_match = _NG_LINE_BREAK.search(source, start)
        end = end_match.start() if end_match else len(source)
        within = source[start:end].encode("utf-8")[: column - 1].decode("utf-8", "ignore")
        offset = start + len(within)
        line_start = source.rfind("\n", 0, offset) + 1
        if line_start == call_line_offset:
            target = line_start + _UPSTREAM_CALL.index("(")
        else:
            line_end = source.find("\n", offset)
            paren = source.find("(", offset, len(source) if line_end < 0 else line_end)
            target = offset if paren < 0 else paren
        return f"{_FILE_NAME}:{source.count(chr(10), 0, line_start) + 1}:{target - line_start + 1}"

    lines = stack.split("\n")
    for index, text in enumerate(lines):
        if text.startswith(_FRAME_PREFIX) and _NG_FILE_NAME in text:
            lines[index] = _NG_POSITION.sub(upstream_position, text)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------
# Errors

_INTERRUPTED: Final = ("InternalError", "interrupted")
_OUT_OF_MEMORY: Final = ("InternalError", "out of memory")
_STACK_OVERFLOWS: Final = frozenset(
    {("RangeError", "Maximum call stack size exceeded"), ("InternalError", "stack overflow")}
)
_ERROR_HEAD: Final = re.compile(r"([A-Za-z_$][\w$]*): (.*)", re.DOTALL)
_ERROR_NAME: Final = re.compile(r"[A-Za-z_$][\w$]*Error")


def _format_amount(value: float) -> str:
    return f"{value:g}"


def _resource_error(name: object, message: object, limits: JavaScriptLimits) -> JavaScriptError | None:
    """The limit error for QuickJS's own ``name``/``message``, or ``None`` for any other error."""
    if (name, message) == _INTERRUPTED:
        return JavaScriptTimeout(
            f"interrupted: the script ran past its time limit of {_format_amount(limits.time_limit_s)} s"
        )
    if (name, message) == _OUT_OF_MEMORY:
        limit = _format_amount(limits.memory_bytes / (1024 * 1024))
        return JavaScriptMemoryError(f"out of memory: the script exceeded its memory limit of {limit} MB")
    if (name, message) in _STACK_OVERFLOWS:
        limit = _format_amount(limits.stack_bytes / 1024)
        return JavaScriptStackOverflow(
            f"{message}: the script exceeded its stack limit of {limit} KB (too deep recursion?)"
        )
    return None


def _parse_exception_text(text: str) -> tuple[str | None, str]:
    """Split the binding's exception text into the thrown value's error name (if any) and message.

    The binding reports a JavaScript exception only as ``ToString(value) + "\\n" + String(value.stack)``:
    ``Error: boom\\n    at f (<input>:1:2)\\n`` for an Error, ``bad input\\nundefined`` for a thrown string,
    ``null\\n`` for null. The message is what quickjs-emscripten's ``unwrapResult`` reports: an Error's
    ``message``, otherwise the value's string form.
    """
    if text.endswith("\nundefined"):
        return None, text[: -len("\nundefined")]
    lines = text.rstrip("\n").split("\n")
    frames = 0
    while len(lines) > 1 and lines[-1].startswith(_FRAME_PREFIX):
        lines.pop()
        frames += 1
    head = "\n".join(lines)
    match = _ERROR_HEAD.fullmatch(head)
    if match:
        return match[1], match[2]
    if frames and _ERROR_NAME.fullmatch(head):
        return head, ""
    return None, head


def _exception_error(text: str, limits: JavaScriptLimits) -> JavaScriptError:
    name, message = _parse_exception_text(text)
    return _resource_error(name, message, limits) or JavaScriptError(message)


# ---------------------------------------------------------------------------------------------------------
# Params


def _finite(value: Any, path: tuple[int, ...] = ()) -> Any:
    """``value`` with non-finite floats as ``None``, as ``JSON.stringify`` writes them (slow path)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping | list | tuple):
        if id(value) in path:
            raise ValueError("Circular reference detected")
        inner = (*path, id(value))
        if isinstance(value, Mapping):
            return {key: _finite(item, inner) for key, item in value.items()}
        return [_finite(item, inner) for item in value]
    return value


def _params_json(params: Mapping[str, Any]) -> str:
    """``JSON.stringify(params)`` as JavaScript source: ASCII only, so the binding accepts any text."""
    try:
        try:
            return json.dumps(params, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
        except ValueError:
            return json.dumps(_finite(params), ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise JavaScriptError(f"params cannot be converted to JSON: {exc}") from None


def _unevaluable_reason(content: str) -> str | None:
    if "\0" in content:
        return "the script contains a NUL character, which QuickJS cannot evaluate"
    try:
        content.encode("utf-8")
    except UnicodeEncodeError:
        return "the script contains an unpaired surrogate, which QuickJS cannot evaluate"
    return None


# ---------------------------------------------------------------------------------------------------------
# Running


def run_javascript(
    content: str, params: Mapping[str, Any], limits: JavaScriptLimits = JavaScriptLimits()
) -> Any:
    """Run ``main({ params })`` of ``content`` in a fresh QuickJS context and return its settled result.

    The result is a JSON value (``dict``/``list``/``str``/``int``/``float``/``bool``/``None``) as
    ``JSON.stringify`` would write it: ``undefined`` (and a function or symbol) becomes ``None``, a Date its
    ISO string, an integral number an ``int``. Raises :class:`JavaScriptError` (or a limit subclass) with
    the message upstream reports after ``Code execution failed: ``.

    Synchronous and thread-confined: the context is created, used and dropped within this call.
    """
    params_json = _params_json(params)
    prefix = f"{_HEAD}{content}{_MISSING_MAIN}const __params__ = {params_json};\n"
    source = f"{prefix}{_CALL}\n"
    deadline = time.monotonic() + limits.time_limit_s

    def remaining_time() -> float:
        return max(deadline - time.monotonic(), 0.0)

    failure: JavaScriptError | None = None
    exception_text: str | None = None
    value: Any = None
    context = quickjs.Context()
    result: Any = None
    try:
        context.set_memory_limit(limits.memory_bytes)
        context.set_max_stack_size(limits.stack_bytes)
        try:
            context.set_time_limit(remaining_time())
            try:
                result = context.eval(source)
            except ValueError:  # the binding refused the text (a JSException is no ValueError)
                failure = JavaScriptError(_unevaluable_reason(content) or "the script cannot be evaluated")
            while failure is None:
                remaining = remaining_time()
                if remaining <= 0:
                    failure = _resource_error(*_INTERRUPTED, limits)
                    break
                context.set_time_limit(remaining)
                if not context.execute_pending_job():
                    break
            if failure is None:
                value, failure = _settled(context, result, remaining_time, limits, source, len(prefix))
        except quickjs.JSException as exc:
            exception_text = str(exc)
    finally:
        # Drop every handle into the context here, on this thread, so that nothing (not even a
        # traceback referencing this frame) keeps the QuickJS runtime alive past this call.
        del result, context

    if exception_text is not None:
        failure = _exception_error(exception_text, limits)
    if failure is not None:
        raise failure
    return value


def _settled(
    context: Any,
    result: Any,
    remaining_time: Callable[[], float],
    limits: JavaScriptLimits,
    source: str,
    call_line_offset: int,
) -> tuple[Any, JavaScriptError | None]:
    """``main``'s settled value, or the error it ends in, once no jobs are left. Returns rather than
    raises, so that no traceback holds the context. ``result`` is the script's ``__flowloom__.result``."""
    context.set_time_limit(remaining_time())
    try:
        settled = json.loads(result.json())
    except quickjs.JSException as exc:  # a fulfilled value JSON refuses; _DUMP words why
        resource = _exception_error(str(exc), limits)
        if type(resource) is not JavaScriptError:
            return None, resource
        settled = {"state": "D"}
    state = settled["state"]
    if state == _FULFILLED:
        return settled.get("value"), None
    if state == _PENDING:
        return None, JavaScriptError(
            "main never settled: its promise is still pending after every queued job ran"
            " (it awaits something that never resolves)"
        )
    context.set_time_limit(remaining_time())
    report: str = context.eval(_DUMP)
    if not report.startswith("R"):
        return _fulfilled_value(report, source, call_line_offset)
    verdict = _judge_rejection(report[1:], source, call_line_offset, limits)
    if isinstance(verdict, str):
        context.set_time_limit(remaining_time())
        verdict = JavaScriptError(context.eval(_RESTACK)(report[1:], verdict))
    return None, verdict


def _judge_rejection(
    dumped_json: str, source: str, call_line_offset: int, limits: JavaScriptLimits
) -> JavaScriptError | str:
    """The error for a rejected (or throwing) ``main``, as upstream words it, given the rejection's dump.

    Returns instead the upstream form of the rejection's ``stack`` when that must first be put into the
    JSON (by the sandbox, which writes JSON exactly as upstream's host does).
    """
    dumped = json.loads(dumped_json)
    if isinstance(dumped, str):
        return JavaScriptError(dumped)
    if isinstance(dumped, dict):
        resource = _resource_error(dumped.get("name"), dumped.get("message"), limits)
        if resource is not None:
            return resource
        stack = dumped.get("stack")
        if isinstance(stack, str):
            rewritten = rewrite_stack_for_upstream(stack, source, call_line_offset)
            if rewritten != stack:
                return rewritten
    return JavaScriptError(dumped_json)


def _fulfilled_value(report: str, source: str, call_line_offset: int) -> tuple[Any, JavaScriptError | None]:
    """The value (or error) of a fulfilled ``_DUMP`` report: ``F`` + JSON, ``U`` or ``X`` + reason."""
    kind, body = report[:1], report[1:]
    if kind == "U":
        return None, None
    if kind == "X":
        return None, JavaScriptError(f"main returned a value that cannot be converted to JSON: {body}")
    value = json.loads(body)
    if isinstance(value, dict) and isinstance(value.get("stack"), str):
        value["stack"] = rewrite_stack_for_upstream(value["stack"], source, call_line_offset)
    return value, None
