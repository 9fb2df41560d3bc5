"""A VisualFlow file run from the command line carries its subflows: the ``<subflow id>.json`` files next to
it (the rule ``bundle pack`` uses), read once here and kept in the run's workflow, so ``runs resume`` in
another process needs nothing but the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flowloom.formats.visualflow import FolderSubflows, VisualFlowFormat, subflow_ids, with_subflows


def with_folder_subflows(file: Path, workflow_format: str | None) -> dict[str, Any] | None:
    """The document of ``file`` with its subflows, if it is a VisualFlow that has subflow nodes; else None
    (the file is run as it is)."""
    if workflow_format not in (None, VisualFlowFormat.name) or not file.is_file():
        return None
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # the engine reports it, naming the file
    if not isinstance(document, dict) or not subflow_ids(document):
        return None
    if workflow_format is None and not VisualFlowFormat().detect(document):
        return None
    return with_subflows(document, FolderSubflows(file.parent))
