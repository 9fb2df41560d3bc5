"""RestrictedPython compilation and the guarded globals user scripts run with (inside a sandbox worker).

This module runs in the worker process and imports only the standard library and RestrictedPython.

What a script may do: define functions (``def`` and ``async def``) and classes, use comprehensions,
f-strings, augmented assignment (also of items and attributes), ``print`` (collected and discarded), the
safe builtins of RestrictedPython (``safe_builtins`` + ``limited_builtins`` + ``utility_builtins``:
``math``, ``random``, ``string``, ``set``...; ``import math`` etc. give these same objects;
``import json`` its ``dumps``, ``loads`` and ``JSONDecodeError``) and the usual iteration helpers
(``enumerate``, ``min``, ``sum``...). What it may not: import other modules (unless allow-listed), read
or write any name or attribute starting with ``_`` (also through ``getattr``/``setattr``/``hasattr``),
reach frames, code or generator internals, ``str.format``, ``eval``/``exec``/``compile``/``open``/``type``/
``globals``, or modify objects other than its own dicts, lists, sets, bytearrays and instances of its own
classes.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import operator
import re
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from types import CodeType, SimpleNamespace, TracebackType
from typing import Any, Final, cast

from RestrictedPython.compile import compile_restricted_exec
from RestrictedPython.Guards import (
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safe_builtins,
    safer_getattr_raise,
)
from RestrictedPython.Limits import limited_builtins
from RestrictedPython.PrintCollector import PrintCollector
from RestrictedPython.transformer import IOPERATOR_TO_STR, RestrictingNodeTransformer
from RestrictedPython.Utilities import utility_builtins

__all__ = [
    "SCRIPT_FILENAME",
    "CodeCache",
    "ImportNotAllowedError",
    "ScriptFailure",
    "compile_script",
    "describe",
    "make_globals",
    "run_main",
]

SCRIPT_FILENAME: Final = "<script>"


class ScriptFailure(Exception):
    """The script failed; the message says how (``ZeroDivisionError: division by zero (line 3)``)."""


class ImportNotAllowedError(ImportError):
    """An import of a module the allow-list does not name (reported without the exception type)."""


# -- compilation -------------------------------------------------------------------------------------------


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy, plus ``async def``/``await`` (flowgram scripts use ``async def main``) and
    augmented assignment of items and attributes (``counts[k] += 1``), which it rejects only because the
    rewrite needs temporaries. Both rewrites go through the same guards as the plain forms."""

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        # The same checks as ``visit_FunctionDef``.
        self.check_name(node, node.name, allow_magic_methods=True)
        self.check_function_argument_names(node)
        with self.print_info.new_print_scope():
            node = self.node_contents_visit(node)
            self.inject_print_collector(cast(ast.FunctionDef, node))
        return node

    def visit_Await(self, node: ast.Await) -> ast.AST:
        return self.node_contents_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        target = node.target
        if isinstance(target, ast.Name):
            return super().visit_AugAssign(node)
        node = self.node_contents_visit(node)  # checks names; wraps the target's object in ``_write_(...)``
        target = node.target
        assert isinstance(target, ast.Subscript | ast.Attribute)  # the grammar allows nothing else
        if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Slice):
            self.error(node, "Augmented assignment of slices is not allowed.")
            return node
        written = target.value
        assert isinstance(written, ast.Call)  # ``_write_(obj)``
        obj_name = self.gen_tmp_name()
        statements: list[ast.stmt] = [_assign(obj_name, written.args[0])]
        op = ast.Constant(IOPERATOR_TO_STR[type(node.op)])
        if isinstance(target, ast.Subscript):
            key_name = self.gen_tmp_name()
            statements.append(_assign(key_name, target.slice))
            current: ast.expr = _call("_getitem_", _load(obj_name), _load(key_name))
            new_target: ast.expr = ast.Subscript(
                value=_call("_write_", _load(obj_name)), slice=_load(key_name), ctx=ast.Store()
            )
        else:
            current = _call("_getattr_", _load(obj_name), ast.Constant(target.attr))
            new_target = ast.Attribute(
                value=_call("_write_", _load(obj_name)), attr=target.attr, ctx=ast.Store()
            )
        value = _call("_inplacevar_", op, current, node.value)
        statements.append(ast.Assign(targets=[new_target], value=value))
        for statement in statements:
            for child in ast.walk(statement):
                if "lineno" in child._attributes:
                    ast.copy_location(child, node)
        return statements


def _load(name: str) -> ast.Name:
    return ast.Name(name, ast.Load())


def _assign(name: str, value: ast.expr) -> ast.Assign:
    return ast.Assign(targets=[ast.Name(name, ast.Store())], value=value)


def _call(func: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=_load(func), args=list(args), keywords=[])


_ERROR_LINE = re.compile(r"^Line (\d+): (.*)$", re.DOTALL)


def compile_script(source: str) -> CodeType:
    """Compile ``source`` under the restricting policy. Raises ``ScriptFailure`` for syntax errors and
    forbidden constructs."""
    try:
        tree = ast.parse(source, SCRIPT_FILENAME)
    except SyntaxError as exc:
        raise ScriptFailure(f"{type(exc).__name__}: {exc.msg} (line {exc.lineno})") from None
    except (ValueError, RecursionError) as exc:  # NUL bytes; absurd nesting
        raise ScriptFailure(f"SyntaxError: {exc}") from None
    try:
        result = compile_restricted_exec(tree, SCRIPT_FILENAME, policy=_Policy)
    except RecursionError as exc:
        raise ScriptFailure(f"SyntaxError: {exc}") from None
    if result.errors:
        messages = []
        for error in result.errors:
            match = _ERROR_LINE.match(error)
            messages.append(f"{match[2].rstrip('.')} (line {match[1]})" if match else error)
        raise ScriptFailure("; ".join(messages))
    assert result.code is not None
    return result.code


class CodeCache:
    """An LRU of compiled scripts by the sha256 of their source; a script that does not compile is cached
    as its error message."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._entries: OrderedDict[bytes, CodeType | str] = OrderedDict()
        self.compiles = 0
        self.hits = 0

    def get(self, source: bytes | memoryview) -> CodeType:
        """The compiled script of the UTF-8 ``source`` (lone surrogates pass); ``ScriptFailure`` if it does
        not compile."""
        key = hashlib.sha256(source).digest()
        entry = self._entries.get(key)
        if entry is None:
            self.compiles += 1
            try:
                entry = compile_script(str(source, "utf-8", "surrogatepass"))
            except ScriptFailure as exc:
                entry = str(exc)
            self._entries[key] = entry
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        else:
            self.hits += 1
            self._entries.move_to_end(key)
        if isinstance(entry, str):
            raise ScriptFailure(entry)
        return entry

    def stats(self) -> dict[str, int]:
        return {"compiles": self.compiles, "hits": self.hits, "entries": len(self._entries)}


# -- guards ------------------------------------------------------------------------------------------------

# Classes the script defined (made by ``__metaclass__`` below): their instances may be written to.
_user_classes: weakref.WeakSet[type] = weakref.WeakSet()
_WRITABLE: Final = frozenset({dict, list, set, bytearray})


def _new_class(name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any) -> type:
    cls = type(name, bases, namespace, **kwargs)
    _user_classes.add(cls)
    return cls


def _check_name(name: object) -> str:
    if type(name) is not str:
        raise TypeError("attribute name must be a str")
    if name.startswith("_"):
        raise AttributeError(f'"{name}" is an invalid attribute name because it starts with "_"')
    return name


def _write(obj: Any) -> Any:
    """``_write_``: the script may modify its own containers and objects, nothing else (not modules, not
    builtin types, which would leak into later scripts of the same worker)."""
    kind = type(obj)
    if kind in _WRITABLE or kind in _user_classes or (isinstance(obj, type) and obj in _user_classes):
        return obj
    raise TypeError(f"cannot modify objects of type {kind.__name__}")


# Refuses "_" names, frame/code/generator internals and ``str.format``; raises AttributeError when missing.
_safer_getattr: Final[Callable[..., Any]] = safer_getattr_raise


def _getattr(obj: Any, name: str, *default: Any) -> Any:
    if len(default) > 1:
        raise TypeError(f"getattr expected at most 3 arguments, got {2 + len(default)}")
    return _safer_getattr(obj, _check_name(name), *default)


def _hasattr(obj: Any, name: str) -> bool:
    try:
        _getattr(obj, name)
    except AttributeError:
        return False
    return True


def _setattr(obj: Any, name: str, value: Any) -> None:
    setattr(_write(obj), _check_name(name), value)


def _delattr(obj: Any, name: str) -> None:
    delattr(_write(obj), _check_name(name))


_INPLACE: Final[Mapping[str, Callable[[Any, Any], Any]]] = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "%=": operator.imod,
    "**=": operator.ipow,
    "<<=": operator.ilshift,
    ">>=": operator.irshift,
    "|=": operator.ior,
    "^=": operator.ixor,
    "&=": operator.iand,
    "//=": operator.ifloordiv,
    "@=": operator.imatmul,
}


def _inplacevar(op: str, target: Any, value: Any) -> Any:
    return _INPLACE[op](target, value)


def _apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def _import_guard(allowed: frozenset[str], provided: Mapping[str, Any]) -> Callable[..., Any]:
    def guarded_import(
        name: str,
        globals: Mapping[str, Any] | None = None,
        locals: Mapping[str, Any] | None = None,
        fromlist: Sequence[str] | None = (),
        level: int = 0,
    ) -> Any:
        if level != 0 or name.partition(".")[0] not in allowed:
            if level == 0 and name in provided:
                return provided[name]
            raise ImportNotAllowedError(f'import of "{name}" is not allowed')
        return __import__(name, globals, locals, fromlist, 0)

    return guarded_import


def _builtins(allowed_imports: frozenset[str]) -> dict[str, Any]:
    names: dict[str, Any] = {**safe_builtins, **limited_builtins, **utility_builtins}
    names.update(
        # limited_builtins' range/list/tuple refuse ranges over 1,000 items and list("abc"); ordinary code
        # needs the real ones, and the worker's memory and time limits bound what they can cost.
        range=range,
        list=list,
        tuple=tuple,
        dict=dict,
        enumerate=enumerate,
        reversed=reversed,
        iter=iter,
        next=next,
        min=min,
        max=max,
        sum=sum,
        any=any,
        all=all,
        map=map,
        filter=filter,
        bytearray=bytearray,
        getattr=_getattr,
        hasattr=_hasattr,
        setattr=_setattr,
        delattr=_delattr,
    )
    # ``import math`` (``random``, ``string``) gives the object the builtin of that name already is: no more
    # than the script has, but the usual way of writing it.
    provided = {name: names[name] for name in ("math", "random", "string")}
    # ``import json`` gives its two functions and its error, not the module (whose attributes reach
    # ``codecs``, and so files).
    provided["json"] = SimpleNamespace(
        dumps=json.dumps, loads=json.loads, JSONDecodeError=json.JSONDecodeError
    )
    names["__import__"] = _import_guard(allowed_imports, provided)
    return names


def make_globals(allowed_imports: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The template of a script's globals (copy it per execution): builtins and the guards the restricting
    compiler's rewrites call. Scripts cannot name anything starting with ``_``, so they cannot touch these."""
    return {
        "__builtins__": _builtins(allowed_imports),
        "__name__": "script",
        "__metaclass__": _new_class,
        "_getattr_": _getattr,
        "_getitem_": operator.getitem,
        "_getiter_": iter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": _write,
        "_inplacevar_": _inplacevar,
        "_apply_": _apply,
        "_print_": PrintCollector,
    }


# -- execution ---------------------------------------------------------------------------------------------


def run_main(code: CodeType, template: Mapping[str, Any], params: Any) -> Any:
    """Execute the compiled script in fresh globals and return what its ``main({"params": params})``
    returns (awaited if it is a coroutine). Exceptions of the script propagate as they are."""
    scope = dict(template)
    exec(code, scope)
    main = scope.get("main")
    if not callable(main):
        raise ScriptFailure("main function is required in the script")
    result = main({"params": params})
    if inspect.iscoroutine(result):
        result = _settle(result)
    return result


def _settle(coroutine: Any) -> Any:
    # Scripts cannot reach an event loop, so a coroutine only awaits other coroutines and finishes in one
    # step; driving it by hand costs nothing, unlike starting a loop per call.
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise ScriptFailure("main awaited something that never completes (there is no event loop)")


def describe(exc: BaseException, memory_bytes: int) -> str:
    """The message of an exception raised by a script: ``Type: message (line N)``."""
    if isinstance(exc, ScriptFailure):
        return str(exc)
    if isinstance(exc, MemoryError):
        text = f"memory limit of {memory_bytes / 2**20:g} MB exceeded"
    elif isinstance(exc, ImportNotAllowedError):
        text = str(exc)
    else:
        try:
            message = str(exc)
        except Exception:
            message = "<the message could not be printed>"
        if len(message) > 2000:
            message = message[:2000] + "..."
        text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    line = _script_line(exc.__traceback__)
    return f"{text} (line {line})" if line else text


def _script_line(tb: TracebackType | None) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == SCRIPT_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
