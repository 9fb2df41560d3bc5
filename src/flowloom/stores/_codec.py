"""How values become stored text and back: JSON for values, ``"2/0"`` for scopes."""

from __future__ import annotations

import json
from typing import Any

from flowloom.ir import UNSERIALIZABLE, Scope
from flowloom.ir import json_text as dumps

__all__ = ["UNSERIALIZABLE", "dump_scope", "dumps", "load_scope", "loads"]


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def dump_scope(scope: Scope) -> str:
    return "/".join(map(str, scope))


def load_scope(text: str) -> Scope:
    return tuple(int(part) for part in text.split("/")) if text else ()
