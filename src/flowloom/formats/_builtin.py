"""The formats flowloom reads out of the box."""

from __future__ import annotations

from ._format import FormatRegistry
from ._ir import IrFormat
from .flowengine import FlowengineFormat
from .flowgram import FlowgramFormat
from .visualflow import VisualFlowFormat


def default_formats() -> FormatRegistry:
    """Every built-in format, VisualFlow (the most specific shape), flowloom's own JSON and flowengine's
    first; flowgram JSON reads documents no other format recognises (its validation then says what is
    wrong)."""
    return FormatRegistry(
        [VisualFlowFormat(), IrFormat(), FlowengineFormat(), FlowgramFormat()], fallback=FlowgramFormat.name
    )
