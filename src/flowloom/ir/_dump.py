"""``model.model_dump(mode="json", by_alias=True, exclude_none=True)`` without building the model's pydantic
serializer: the IR's models defer building theirs, and a fresh CLI process that records one small workflow
would otherwise build a dozen validators and serializers (and load pydantic's plugin machinery) to dump it.
Tests hold the two to the same value, key order included."""

from __future__ import annotations

from typing import Any, ForwardRef, get_args

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

# A model of more node entries than this is dumped by pydantic: about twice as fast per node once its
# serializer is built, which costs several ms once per process.
WALK_MAX_NODES = 200

# Per model class, each field as (attribute, key, walk): ``walk`` when models can sit in its value.
_LAYOUTS: dict[type[BaseModel], tuple[tuple[str, str, bool], ...]] = {}


def wire_json(model: BaseModel, nodes: int = 0) -> dict[str, Any]:
    """The model's fields that are not None, under their aliases, as JSON values; ``nodes`` says how many
    node entries (reports, workflow nodes) it holds."""
    if nodes > WALK_MAX_NODES:
        return model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return to_jsonable_python(_by_alias(model), inf_nan_mode="null")  # type: ignore[no-any-return]


def _by_alias(model: BaseModel) -> dict[str, Any]:
    layout = _LAYOUTS.get(type(model))
    if layout is None:
        layout = _LAYOUTS[type(model)] = tuple(
            (name, field.alias or name, _mentions_model(field.annotation))
            for name, field in type(model).model_fields.items()
        )
    out: dict[str, Any] = {}
    for name, key, walk in layout:
        value = getattr(model, name)
        if value is not None:
            out[key] = _walk(value) if walk else value
    if model.__pydantic_extra__:
        out.update((key, value) for key, value in model.__pydantic_extra__.items() if value is not None)
    return out


def _walk(value: Any) -> Any:
    """A field value that may hold models: models dumped, lists and dicts around them rebuilt."""
    if isinstance(value, BaseModel):
        return _by_alias(value)
    if isinstance(value, (list, tuple)):
        return [_walk(item) for item in value]
    if isinstance(value, dict):
        return {key: _walk(item) for key, item in value.items()}
    return value


def _mentions_model(annotation: Any) -> bool:
    """Whether a model can sit in a value of this type; a name not resolved yet (a model that refers to
    itself) counts as one."""
    if isinstance(annotation, (str, ForwardRef)):
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(map(_mentions_model, get_args(annotation)))
