"""VisualFlow's built-in node types (``vf.<type>``): exec nodes moved by the run's token, pure nodes pulled
by their consumers. See ``flowloom.formats.visualflow`` for how a flow becomes a workflow."""

from __future__ import annotations

from flowloom.engine import NodeExecutor

from ._builtins import builtin_types
from ._code import code_types
from ._control import Begin, Finish, control_types
from ._effects import effect_types
from ._subflow import subflow_types
from ._variables import variable_types

__all__ = ["visual_executors"]


def visual_executors() -> list[NodeExecutor]:
    """Every VisualFlow node type flowloom runs."""
    return [
        Begin(),
        Finish(),
        *control_types(),
        *effect_types(),
        *variable_types(),
        *builtin_types(),
        *code_types(),
        *subflow_types(),
    ]
