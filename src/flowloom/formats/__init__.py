"""Front doors: workflow document formats read into ``flowloom.ir``. ``default_formats()`` has every
built-in format; a ``WorkflowFormat`` is what a new one implements."""

from __future__ import annotations

from flowloom.ir import JsonText, Source

from ._builtin import default_formats
from ._document import read_document
from ._format import FormatRegistry, InputCheck, LoadedWorkflow, WorkflowFormat
from ._triggers import read_triggers, seal_secrets

__all__ = [
    "FormatRegistry",
    "InputCheck",
    "JsonText",
    "LoadedWorkflow",
    "Source",
    "WorkflowFormat",
    "default_formats",
    "read_document",
    "read_triggers",
    "seal_secrets",
]
