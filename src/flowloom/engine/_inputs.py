"""Checks every run's inputs get, whatever the front door: JSON carries no ``NaN`` or infinity, so an input
holding one could not be recorded or reported faithfully (it would become ``null``, and compute as 0)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def nonfinite_input_errors(inputs: Mapping[str, Any] | None) -> list[str]:
    """One message per non-finite number in ``inputs``, naming where it is (``inputs.a.b[2]``). Iterative,
    so deeply nested inputs cannot exhaust the stack."""
    if not inputs:
        return []
    errors: list[str] = []
    pending: list[tuple[str, Any]] = [(f"inputs.{key}", value) for key, value in inputs.items()]
    while pending:
        where, value = pending.pop()
        if isinstance(value, float) and not math.isfinite(value):
            errors.append(f"{where} is {value}: a JSON number must be finite")
        elif isinstance(value, Mapping):
            pending.extend((f"{where}.{key}", item) for key, item in value.items())
        elif isinstance(value, list | tuple):
            pending.extend((f"{where}[{index}]", item) for index, item in enumerate(value))
    return sorted(errors)
