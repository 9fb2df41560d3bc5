"""The Python a VisualFlow code node, function node or pin expression runs, as one sandbox script: the
helpers (``parse_json``, ``to_json``, ``shq``, ``text_of``), the flow's function library, the user's code and
a ``main`` that calls it and checks its result is JSON. Nothing here runs user code: the script goes to the
sandbox through ``ctx.workers`` (RestrictedPython in a worker process), and its errors come back as text that
``script_error`` maps to the node and the line of the user's code.

The sandbox refuses names that start with ``_``; VisualFlow code uses them (``def transform(_input)``,
private helpers), so such names are renamed (``_input`` → ``vf_private_input``) token by token, which keeps
every line where it was. Attribute names are renamed alike, so a user class's ``self._x`` works while real
objects' private attributes stay out of reach (they have no ``vf_private_`` attributes)."""

from __future__ import annotations

import io
import keyword
import re
import tokenize
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PRIVATE = "vf_private"
ALLOWED_IMPORTS = ("json", "math", "random", "string")
"""What user code may import: pure standard-library modules the sandbox provides."""

_HELPERS = """import json
def parse_json(text):
    return json.loads(text)
def to_json(value):
    return json.dumps(value)
def shq(text):
    return str(text).replace("'", "'\\\\''")
def text_of(value):
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("text", "content", "message", "result"):
            if isinstance(value.get(key), str):
                return value[key]
    return json.dumps(value)
def vf_json_problem(value, path):
    if value is None or isinstance(value, (str, bool, int, float)):
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = vf_json_problem(item, path + "[" + str(index) + "]")
            if found:
                return found
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return "a non-text key " + repr(key) + " at " + path
            found = vf_json_problem(item, path + "[" + repr(key) + "]")
            if found:
                return found
        return None
    kinds = ((set, "set"), (frozenset, "frozenset"), (bytes, "bytes"), (complex, "complex"))
    for kind, name in kinds:
        if isinstance(value, kind):
            return name + " at " + path
    return "an object " + repr(value)[:60] + " at " + path
def vf_result(value):
    problem = vf_json_problem(value, "output")
    if problem:
        return {"bad_json": problem}
    return {"value": value}
"""


@dataclass(frozen=True, slots=True)
class Section:
    """Where a part of the script starts (1-based line) and what it is, for error messages."""

    first_line: int
    what: str


@dataclass(frozen=True, slots=True)
class Script:
    source: str
    sections: tuple[Section, ...]

    def where(self, line: int) -> str | None:
        """``line`` of the script as a line of the user's code (``"line 3 of codeBody"``), or None for a
        line of flowloom's own (the helpers, the wrapper)."""
        found = None
        for section in self.sections:
            if section.first_line <= line:
                found = section
        if found is None or not found.what:
            return None
        return f"line {line - found.first_line + 1} of {found.what}"


class ScriptBuilder:
    """Appends parts to a script, renaming private names and remembering where each part starts."""

    def __init__(self, functions: Any) -> None:
        self._lines: list[str] = _HELPERS.splitlines()
        self._sections: list[Section] = []
        for entry in functions if isinstance(functions, list) else ():
            if isinstance(entry, Mapping) and isinstance(entry.get("code"), str):
                self.add(entry["code"], f"flow function '{entry.get('name')}'")

    def add(self, code: str, what: str | None = None, indent: str = "") -> None:
        if what is not None:
            self._sections.append(Section(len(self._lines) + 1, what))
        for line in rename_private(code).splitlines() or [""]:
            self._lines.append(indent + line if line.strip() else line)

    def plain(self, *lines: str) -> None:
        """Lines of our own (no section: an error there is reported without a user line)."""
        if self._sections and self._sections[-1].what != "":
            self._sections.append(Section(len(self._lines) + 1, ""))
        self._lines.extend(lines)

    def build(self) -> Script:
        sections = tuple(s for s in self._sections)
        return Script("\n".join(self._lines) + "\n", sections)


def rename_private(code: str) -> str:
    """``code`` with every name that starts with one ``_`` (not ``_`` alone, not a dunder) renamed, column
    by column, so lines stay where they were. Code that does not tokenize is returned as it is (the sandbox
    then reports its syntax error)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return code
    lines = code.splitlines(keepends=True)
    edits: dict[int, list[tuple[int, int, str]]] = {}
    for token in tokens:
        name = token.string
        if token.type == tokenize.NAME and _private(name):
            row, col = token.start
            edits.setdefault(row - 1, []).append((col, col + len(name), PRIVATE + name))
        elif token.type == tokenize.STRING and _F_STRING.match(name):  # one token before Python 3.12
            for offset, found in _f_string_names(name):
                row, col = _position(token.start, name, offset)
                edits.setdefault(row - 1, []).append((col, col + len(found), PRIVATE + found))
    for row, changes in edits.items():
        line = lines[row]
        for start, end, text in sorted(changes, reverse=True):
            line = line[:start] + text + line[end:]
        lines[row] = line
    return "".join(lines)


_F_STRING = re.compile(r"[rRbBuU]*[fF][rRbBuU]*['\"]")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


def _f_string_names(text: str) -> list[tuple[int, str]]:
    """The private names in the replacement fields (``{...}``) of an f-string token, by offset."""
    found: list[tuple[int, str]] = []
    depth, i = 0, 0
    while i < len(text):
        char = text[i]
        if depth == 0:
            if text.startswith("{{", i):
                i += 2
                continue
            depth += char == "{"
            i += 1
            continue
        if char in "{}":
            depth += 1 if char == "{" else -1
            i += 1
            continue
        match = _IDENTIFIER.match(text, i)
        if match is None:
            i += 1
            continue
        if _private(match.group()):  # attributes too, as the tokens outside f-strings
            found.append((i, match.group()))
        i = match.end()
    return found


def _position(start: tuple[int, int], text: str, offset: int) -> tuple[int, int]:
    """The (row, column) of ``offset`` within a token that starts at ``start`` (it may span lines)."""
    row, col = start
    newlines = text.count("\n", 0, offset)
    if newlines == 0:
        return row, col + offset
    return row + newlines, offset - text.rindex("\n", 0, offset) - 1


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name != "_"


def local_names(pins: Sequence[str]) -> list[str]:
    """The input pins that can be Python locals."""
    return [p for p in pins if p.isidentifier() and not keyword.iskeyword(p) and not p.startswith("__")]


_SANDBOX_ERROR = re.compile(
    r"^(?:(?P<type>[A-Za-z_][\w.]*): )?(?P<message>.*?)(?: \(line (?P<line>\d+)\))?$", re.S
)
_REFUSED_IMPORT = re.compile(r'^import of "(?P<module>[^"]+)" is not allowed')


def script_error(text: str, script: Script) -> str:
    """A sandbox error as the user's: ``Runtime error: division by zero (ZeroDivisionError, line 1 of
    codeBody)``; a refused import names the module and what may be imported."""
    refused = _REFUSED_IMPORT.match(text)
    if refused is not None:
        match = _SANDBOX_ERROR.match(text)
        line = match["line"] if match is not None else None
        return refused_import(refused["module"], script.where(int(line)) if line else None)
    match = _SANDBOX_ERROR.match(text)
    if match is None or match["type"] is None:
        return text
    message = (match["message"] or "").replace(PRIVATE + "_", "_")  # the user's names, as written
    place = script.where(int(match["line"])) if match["line"] else None
    if match["type"] == "SyntaxError":
        return f"Syntax error: {message}" + (f" ({place})" if place else "")
    return f"Runtime error: {message} ({match['type']}" + (f", {place})" if place else ")")


def refused_import(module: str, where: str | None) -> str:
    allowed = ", ".join(ALLOWED_IMPORTS)
    at = f" ({where})" if where else ""
    return (
        f"import of '{module}' is not allowed in the sandbox{at}: only pure standard-library modules may "
        f"be imported ({allowed})"
    )
