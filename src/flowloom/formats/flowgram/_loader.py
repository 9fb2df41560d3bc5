"""Reading flowgram.ai workflow JSON into the IR. The input is never mutated."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import IO, Any

from flowloom.ir import (
    DEFAULT_INPUT_PORT,
    DEFAULT_OUTPUT_PORT,
    CachePolicy,
    Edge,
    InvalidWorkflowError,
    JsonSchema,
    Node,
    RetryPolicy,
    Workflow,
    WorkflowSettings,
    construct,
)

# Declarations split off a node's ``data``; the rest is what the node type reads (SPEC §A1).
_DECLARATIONS = ("title", "inputs", "inputsValues", "outputs")

Source = Mapping[str, Any] | str | bytes | PathLike[str] | IO[str] | IO[bytes]


def read_source(source: Source) -> tuple[Any, str]:
    """The parsed JSON of a workflow source and a content hash of it. ``source`` is a mapping, a JSON
    text, a path or an open file. Unreadable or non-JSON sources raise ``InvalidWorkflowError``."""
    if isinstance(source, Mapping):
        text = json.dumps(source, sort_keys=True, separators=(",", ":"), default=str)
        return source, _digest(text)
    if isinstance(source, PathLike):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidWorkflowError([f"cannot read workflow file {path}: {exc.strerror or exc}"]) from exc
        except UnicodeDecodeError as exc:
            raise InvalidWorkflowError([f"workflow file {path} is not UTF-8 text: {exc.reason}"]) from exc
        return _parse(text, where=str(path)), _digest(text)
    if isinstance(source, bytes | str):
        text = source.decode("utf-8", errors="replace") if isinstance(source, bytes) else source
        return _parse(text, where="schema"), _digest(text)
    read = getattr(source, "read", None)
    if callable(read):
        content = read()
        return read_source(content if isinstance(content, str | bytes) else str(content))
    raise InvalidWorkflowError(
        [f"a workflow must be a dict, a JSON string, a path or a file, not {type(source).__name__}"]
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def _parse(text: str, *, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidWorkflowError(
            [f"{where} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
        ) from exc


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
    data = dict(raw.get("data") or {})
    declared = {key: data.pop(key) for key in _DECLARATIONS if key in data}
    retry, cache, timeout = raw.get("retry"), raw.get("cache"), raw.get("timeoutS")
    title = declared.get("title")
    return construct(
        Node,
        {
            "id": raw["id"],
            "type": raw["type"],
            "title": title if isinstance(title, str) else None,
            "data": data,
            "inputs": _schema(declared.get("inputs")),
            "inputs_values": dict(declared.get("inputsValues") or {}),
            "outputs": _schema(declared.get("outputs")),
            "blocks": [to_node(b) for b in raw.get("blocks") or []],
            "block_edges": [to_edge(e) for e in raw.get("edges") or []],
            "retry": RetryPolicy.model_validate(retry) if isinstance(retry, dict) else None,
            "cache": CachePolicy.model_validate(cache) if isinstance(cache, dict) else None,
            "timeout_s": timeout if isinstance(timeout, int | float) and timeout > 0 else None,
        },
    )


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
        if key == "properties":
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
