"""``wire_json``: a model's wire form, as pydantic dumps it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def wire_json(model: BaseModel) -> dict[str, Any]:
    """The model's fields that are not None, under their aliases, as JSON values."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
