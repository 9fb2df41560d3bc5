"""What a workflow document may be given as, before a format reads it."""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from typing import IO, Any

Source = Mapping[str, Any] | str | bytes | PathLike[str] | IO[str] | IO[bytes]
"""A mapping, JSON text, a path (``Path`` or a string that does not start with ``{`` or ``[``), or an open
file."""


class JsonText(str):
    """A string that is JSON text, never a path: what a server passes on, so that a request cannot make it
    read a file."""

    __slots__ = ()
