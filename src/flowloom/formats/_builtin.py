"""The formats flowloom reads out of the box."""

from __future__ import annotations

from ._format import FormatRegistry
from ._ir import IrFormat
from .flowengine import FlowengineFormat
from .flowgram import FlowgramFormat


def default_formats() -> FormatRegistry:
    """Every built-in format, flowloom's own JSON first, then flowengine's; flowgram JSON reads documents
    no other format recognises (its validation then says what is wrong)."""
    return FormatRegistry([IrFormat(), FlowengineFormat(), FlowgramFormat()], fallback=FlowgramFormat.name)
