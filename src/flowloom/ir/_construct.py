"""``construct``: ``model_construct`` for the loaders, several times cheaper per model.

A loader builds several models per workflow node from JSON it has already checked, and pydantic's
``model_construct`` resolves every absent field's default through its generic machinery each time: about
8 us for a ``JsonSchema`` of one key, most of the time a workflow takes to load. Here each model class's
defaults are read once. Tests hold the result to ``model_construct``'s: the same field values in the same
order, the same set fields and extras. Measured against ``model_construct`` by ``bench/tricks.py``: a quarter
of the load time of a 100,000-node workflow (bench/README.md, "Speed tricks audited").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

_NO_DEFAULT: Any = object()


class _Layout(NamedTuple):
    defaults: dict[str, Any]  # every field in declaration order: its default, or _NO_DEFAULT
    factories: tuple[tuple[str, Callable[[], Any]], ...]  # fields whose default a factory makes
    required: tuple[str, ...]  # fields with no default: absent unless given, as model_construct does
    aliases: frozenset[str]  # keys model_construct would map to a field: left to it
    allows_extra: bool


_LAYOUTS: dict[type[BaseModel], _Layout | None] = {}
_set = object.__setattr__


def construct(cls: type[M], values: Mapping[str, Any]) -> M:
    """``cls.model_construct(**values)``, ``values`` by field name: a key that is not a field is an extra
    where the model allows extras, and dropped otherwise."""
    layout = _LAYOUTS[cls] if cls in _LAYOUTS else _LAYOUTS.setdefault(cls, _layout(cls))
    if layout is None or not layout.aliases.isdisjoint(values):
        return cls.model_construct(**values)
    fields = layout.defaults.copy()
    extra: dict[str, Any] | None = {} if layout.allows_extra else None
    given = set()
    for key, value in values.items():
        if key in fields:
            fields[key] = value
            given.add(key)
        elif extra is not None:
            extra[key] = value
    for name, factory in layout.factories:
        if name not in given:
            fields[name] = factory()
    for name in layout.required:
        if name not in given:
            del fields[name]
    model = cls.__new__(cls)
    _set(model, "__dict__", fields)
    _set(model, "__pydantic_fields_set__", given)
    _set(model, "__pydantic_extra__", extra)
    _set(model, "__pydantic_private__", None)
    return model


def _layout(cls: type[BaseModel]) -> _Layout | None:
    """How ``construct`` builds ``cls``; ``None`` where it leaves that to ``model_construct``: private
    attributes, a ``model_post_init``, a root model, defaults that are copied or depend on other fields."""
    if cls.__private_attributes__ or cls.__pydantic_post_init__ or cls.__pydantic_root_model__:
        return None
    defaults: dict[str, Any] = {}
    factories: list[tuple[str, Callable[[], Any]]] = []
    required: list[str] = []
    aliases: set[str] = set()
    for name, field in cls.model_fields.items():
        if field.validation_alias is not None and not isinstance(field.validation_alias, str):
            return None
        aliases.update(a for a in (field.alias, field.validation_alias) if a is not None and a != name)
        defaults[name] = _NO_DEFAULT
        if field.default_factory is not None:
            if field.default_factory_takes_validated_data:
                return None
            factories.append((name, field.default_factory))  # type: ignore[arg-type]
        elif field.is_required():
            required.append(name)
        elif isinstance(field.default, str | int | float | bool | None):
            defaults[name] = field.default
        else:
            return None  # a default model_construct would copy
    return _Layout(
        defaults,
        tuple(factories),
        tuple(required),
        frozenset(aliases),
        cls.model_config.get("extra") == "allow",
    )
