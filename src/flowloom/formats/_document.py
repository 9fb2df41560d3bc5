"""Reading a workflow document: the parsed JSON of a mapping, a JSON text, a path or an open file, with a
content hash that keys the engine's cache of compiled workflows. Every format reads its documents this way."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from flowloom.ir import InvalidWorkflowError, JsonText, Source


def read_document(source: Source) -> tuple[Any, str]:
    """The parsed JSON of a workflow source and a sha256 of its content. Unreadable or non-JSON sources
    raise ``InvalidWorkflowError`` naming the file (or ``schema``) and the position."""
    if isinstance(source, Mapping):
        text = json.dumps(source, sort_keys=True, separators=(",", ":"), default=str)
        return source, _digest(text)
    if isinstance(source, str) and not isinstance(source, JsonText) and _looks_like_path(source):
        source = Path(source)
    if isinstance(source, PathLike):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidWorkflowError([f"cannot read workflow file {path}: {exc.strerror or exc}"]) from exc
        except UnicodeDecodeError as exc:
            raise InvalidWorkflowError([f"workflow file {path} is not UTF-8 text: {exc.reason}"]) from exc
        except ValueError as exc:  # a path with a NUL character
            raise InvalidWorkflowError([f"cannot read workflow file {str(path)!r}: {exc}"]) from exc
        return _parse(text, where=str(path)), _digest(text)
    if isinstance(source, bytes | str):
        text = source.decode("utf-8", errors="replace") if isinstance(source, bytes) else source
        return _parse(text, where="schema"), _digest(text)
    read = getattr(source, "read", None)
    if callable(read):
        content = read()
        return read_document(JsonText(content) if isinstance(content, str) else content)
    raise InvalidWorkflowError(
        [f"a workflow must be a dict, a JSON string, a path or a file, not {type(source).__name__}"]
    )


def _looks_like_path(text: str) -> bool:
    """JSON text of a workflow starts with ``{`` (or ``[``, refused later); anything else is a path."""
    head = text.lstrip()[:1]
    return head not in ("", "{", "[") and "\n" not in text


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def _parse(text: str, *, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidWorkflowError(
            [f"{where} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
        ) from exc
    except RecursionError as exc:
        raise InvalidWorkflowError([f"{where} is nested too deeply to read"]) from exc
