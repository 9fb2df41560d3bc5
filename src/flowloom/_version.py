"""The package version, in a module of its own so that hosts need not import the ``flowloom`` facade."""

from __future__ import annotations

__version__ = "0.1.0"
