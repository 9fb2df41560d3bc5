"""The frames a ``SandboxPool`` and its worker processes exchange (stdlib only: both sides import it).

A frame is a 4-byte big-endian body length and the body. A request body is a fixed binary head (``REQUEST``)
followed by the script's UTF-8 source and, for a run, its params as UTF-8 JSON. A reply body is a binary head
(``REPLY``: kind and request id) followed by its payload: the result as JSON (``OK``), an error message
(``ERROR``), the compile-cache counters as JSON (``STATS``) or, in the first frame a worker writes (request
id 0), its pid (``READY``).

The heads are binary rather than a JSON envelope so that only the params and the result go through ``json``
(whose per-call setup dominates for small values): the source travels as it is, and the worker hashes the
bytes it receives for its compile cache.
"""

from __future__ import annotations

import json
import struct
from typing import Any, Final

__all__ = [
    "ERROR",
    "JAVASCRIPT",
    "LENGTH",
    "OK",
    "READY",
    "REPLY",
    "REPLY_FRAME",
    "REQUEST",
    "REQUEST_FRAME",
    "RUN",
    "STATS",
    "dump_json",
    "load_json",
]

LENGTH: Final = struct.Struct(">I")

# Requests. REQUEST: operation, request id, time limit (s), address-space limit (bytes), for JavaScript the
# QuickJS heap and stack limits (0 otherwise), and the source's length; then the source, then the params
# JSON.
RUN: Final = b"p"
JAVASCRIPT: Final = b"j"
STATS: Final = b"s"  # also the kind of its reply
REQUEST: Final = struct.Struct(">cQdQQQI")
REQUEST_FRAME: Final = struct.Struct(LENGTH.format + REQUEST.format.lstrip(">"))

# Replies. REPLY: kind, request id; then the payload.
OK: Final = b"o"
ERROR: Final = b"e"
READY: Final = b"r"
REPLY: Final = struct.Struct(">cQ")
REPLY_FRAME: Final = struct.Struct(LENGTH.format + REPLY.format.lstrip(">"))

_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_DECODER: Final = json.JSONDecoder()


def dump_json(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON; a lone surrogate in a str survives (``load_json`` decodes it back)."""
    return _ENCODER.encode(value).encode("utf-8", "surrogatepass")


def load_json(data: bytes | bytearray | memoryview) -> Any:
    """The JSON document that is all of ``data`` (``ValueError`` if it is not one)."""
    text = str(data, "utf-8", "surrogatepass")
    value, end = _DECODER.raw_decode(text)
    if end != len(text):
        raise ValueError("extra data after the JSON document")
    return value
