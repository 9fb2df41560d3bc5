"""Reading flowgram.ai workflow JSON into the IR. The input is never mutated."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowloom.ir import (
    DEFAULT_INPUT_PORT,
    DEFAULT_OUTPUT_PORT,
    Edge,
    JsonSchema,
    Node,
    Workflow,
    WorkflowSettings,
    construct,
)

from ._settings import cache_policy, retry_policy, timeout_s

# Declarations split off a node's ``data``; the rest is what the node type reads (SPEC §A1).
_DECLARATIONS = ("title", "inputs", "inputsValues", "outputs")

# The loader builds models with ``construct`` (``model_construct``, faster): ``validate_workflow_json`` has
# already checked the JSON, and cleaned schemas are well-formed by construction, so validating again would
# only cost time (and, on the first load in a process, building pydantic's validators for every model).


def to_workflow(raw: Mapping[str, Any]) -> Workflow:
    """Build the IR from flowgram JSON that passed ``validate_workflow_json``."""
    global_schema = raw.get("globalVariable")
    settings = raw.get("settings")
    return construct(
        Workflow,
        {
            "nodes": [to_node(n) for n in raw["nodes"]],
            "edges": [to_edge(e) for e in raw["edges"]],
            "global_variables": _schema(global_schema),
            "settings": WorkflowSettings.model_validate(settings)
            if isinstance(settings, dict)
            else _DEFAULT_SETTINGS,
            "name": raw.get("name") if isinstance(raw.get("name"), str) else None,
        },
    )


def to_node(raw: Mapping[str, Any]) -> Node:
    data = _object(raw.get("data"))  # validation lets arrays through where objects belong, as upstream
    declared = {key: data.pop(key) for key in _DECLARATIONS if key in data}
    title = declared.get("title")
    return construct(
        Node,
        {
            "id": raw["id"],
            "type": raw["type"],
            "title": title if isinstance(title, str) else None,
            "data": data,
            "inputs": _schema(declared.get("inputs")),
            "inputs_values": _object(declared.get("inputsValues")),
            "outputs": _schema(declared.get("outputs")),
            "blocks": [to_node(b) for b in raw.get("blocks") or []],
            "block_edges": [to_edge(e) for e in raw.get("edges") or []],
            # malformed settings are left out here and reported by ``settings_problems``
            "retry": retry_policy(raw),
            "cache": cache_policy(raw),
            "timeout_s": timeout_s(raw),
        },
    )


def _object(value: Any) -> dict[str, Any]:
    """A copy of ``value`` if it is an object, else an empty one (what reading keys of it gives in JS)."""
    return dict(value) if isinstance(value, dict) else {}


def to_edge(raw: Mapping[str, Any]) -> Edge:
    return construct(
        Edge,
        {
            "source": raw["sourceNodeID"],
            "target": raw["targetNodeID"],
            "source_port": raw.get("sourcePortID") or DEFAULT_OUTPUT_PORT,
            "target_port": raw.get("targetPortID") or DEFAULT_INPUT_PORT,
        },
    )


def _schema(raw: Any) -> JsonSchema | None:
    return _construct_schema(clean_schema(raw)) if isinstance(raw, dict) else None


def _construct_schema(schema: dict[str, Any]) -> JsonSchema:
    """A ``JsonSchema`` of a cleaned schema dict: nested schemas built likewise, aliases mapped, other
    keys kept as extras."""
    fields: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            value = {name: _construct_schema(prop) for name, prop in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            value = _construct_schema(value)
        fields[_SCHEMA_FIELDS.get(key, key)] = value
    return construct(JsonSchema, fields)


_SCHEMA_FIELDS = {"additionalProperties": "additional_properties", "$ref": "ref"}
_DEFAULT_SETTINGS = WorkflowSettings.model_construct()


_SCHEMA_TEXT_KEYS = ("type", "title", "description", "$ref")


def clean_schema(raw: dict[str, Any]) -> dict[str, Any]:
    """Editors emit odd JSON schemas (a property declared as a bare string, a numeric title); upstream
    ignores what it cannot use, so keep only well-formed parts: anything malformed becomes untyped."""
    schema = dict(raw)
    for key in _SCHEMA_TEXT_KEYS:
        if key in schema and not isinstance(schema[key], str):
            del schema[key]
    for key in ("enum", "required"):
        if key in schema and not isinstance(schema[key], list):
            del schema[key]
    properties = schema.get("properties")
    if properties is not None:
        schema["properties"] = (
            {k: clean_schema(v) if isinstance(v, dict) else {} for k, v in properties.items()}
            if isinstance(properties, dict)
            else {}
        )
    for key in ("items", "additionalProperties"):
        if key in schema:
            value = schema[key]
            schema[key] = (
                clean_schema(value) if isinstance(value, dict) else value if isinstance(value, bool) else {}
            )
    return schema


def start_node(raw: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The top-level ``start`` node of validated flowgram JSON."""
    return next((n for n in raw["nodes"] if n.get("type") == "start"), None)
