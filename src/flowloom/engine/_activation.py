"""What activated an execution of a re-entrant node (activation ``any``): the edge it came along and what
its source produced then."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Trigger:
    """One activation of a re-entrant node: the taken edge (``source`` node, its ``port``) and the
    ``outputs`` that source produced in the execution that took it. ``count`` numbers the node's
    activations in its scope from 0; it is also the last element of the execution's scope path."""

    source: str
    port: str
    outputs: Mapping[str, Any]
    count: int = 0
