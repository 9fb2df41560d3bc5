"""JSON text as flowloom stores values: compact, UTF-8, with a placeholder for what is not JSON."""

from __future__ import annotations

from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

UNSERIALIZABLE = "__unserializable__"


def _placeholder(value: Any) -> dict[str, str]:
    return {UNSERIALIZABLE: type(value).__name__}


# The C encoder behind json.dumps, made once: JSONEncoder.encode makes a new one per call, which costs more
# than encoding a small value. No cycle markers (`None`): the encoder is then safe to share between
# threads, and a cyclic value ends in RecursionError instead of ValueError -- both give the placeholder.
_encode = c_make_encoder(None, _placeholder, encode_basestring, None, ":", ",", False, False, True)


class RawJson(str):
    """JSON text that is already encoded (as ``json_text`` would encode it): a store writes it as it is,
    rather than encoding the string again. What reads it back gets the decoded value."""

    __slots__ = ()


def json_text(value: Any) -> str:
    """JSON text of ``value``. A part that is not JSON becomes ``{"__unserializable__": "<type name>"}``;
    a value that cannot be encoded at all (a cycle, a non-string key) becomes that placeholder whole."""
    if type(value) is RawJson:
        return value
    try:
        return "".join(_encode(value, 0))
    except (TypeError, ValueError, RecursionError):
        return "".join(_encode(_placeholder(value), 0))
