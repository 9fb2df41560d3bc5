"""Which values of a run are secrets, and how they are hidden (as Airflow's secrets masker does).

A value is a secret when it is given where a secret belongs: under a sensitive name (``apiKey``,
``Authorization``, ``Cookie``, ``X-Api-Key``, ``password``, ``access_token``, ...) in a node's settings or
inputs;
as a run input whose schema on the start node says ``"format": "password"`` or ``"writeOnly": true`` (or
which feeds a sensitive input by a ref or template); or as a ``{"type": "secret", "content": "NAME"}``
flow value, read from the environment when the node runs. (Names in an ``env`` setting, the environment
of a shell or sandbox node's process, are not judged: a script may print them, as flowengine's contract
expects; give a secret there by name.) A run's ``Masker`` knows its secret values and
replaces them with ``***`` in everything the run shows or records (reports, events, node records, logs);
what a resume needs is kept encrypted apart (``SecretBox``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

from flowloom.ir import Event, FlowgramNodeType, FlowValueType, Node, Workflow, json_text

from ._values import environment_secret

MASK = "***"
MIN_SECRET_LENGTH = 3  # shorter values would hide every "1" and "on" of a run: they are not masked
_SENSITIVE_PARTS = (
    "apikey",
    "accesskey",
    "authorization",
    "cookie",
    "password",
    "passwd",
    "passphrase",
    "privatekey",
    "secret",
    "accesstoken",
    "authtoken",
    "refreshtoken",
    "apitoken",
    "bearertoken",
    "credential",
)
# "token" alone, not within a name: ``X-Token`` headers are echoed back by flowengine's contract
_SENSITIVE_NAMES = frozenset({"token"})
_ENV = "env"
_SCHEMA_WORDS = frozenset({"type", "title", "description", "format"})  # a JSON schema's, not secrets
_PLACEHOLDER = re.compile(r"\{\{\s*([^.}\s]+)\.([^.}\s]+)")
_FLOW_VALUE_KINDS = frozenset(kind.value for kind in FlowValueType)
E = TypeVar("E", bound=Event)


def is_sensitive(name: str) -> bool:
    """Whether a setting, input or header of this name holds a secret (``apiKey``, ``X-Api-Key``,
    ``Proxy-Authorization``, ``Cookie``, ``db_password``, ``access_token``, ``token``, ...). Token counts
    (``maxTokens``) and other names that merely hold "token" (``X-Token``) are not."""
    folded = name.lower().replace("-", "").replace("_", "")
    return folded in _SENSITIVE_NAMES or any(part in folded for part in _SENSITIVE_PARTS)


def is_secret_ref(value: Any) -> bool:
    """Whether ``value`` is a secret by name: ``{"type": "secret", "content": "NAME"}``."""
    return (
        isinstance(value, Mapping)
        and value.get("type") == FlowValueType.SECRET
        and isinstance(value.get("content"), str)
        and len(value) == 2
    )


class Masker:
    """The secret values of one run; ``text``/``value``/``event`` hide them."""

    __slots__ = ("_escaped", "_values")

    def __init__(self, values: Iterable[Any] = ()) -> None:
        self._values: set[str] = set()
        self._escaped: list[tuple[str, str]] = []  # (JSON-escaped value, value), longest first
        self.add(*values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def add(self, *values: Any) -> None:
        """Hide these values from now on (strings of ``MIN_SECRET_LENGTH`` characters or more; a number
        given as a secret is hidden as its text)."""
        added = False
        for value in values:
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = str(value)
            if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH and value not in self._values:
                self._values.add(value)
                added = True
        if added:
            ordered = sorted(self._values, key=len, reverse=True)
            self._escaped = [(json.dumps(v, ensure_ascii=False)[1:-1], v) for v in ordered]

    def text(self, text: str) -> str:
        """Plain ``text`` with every secret value replaced by ``***``."""
        for _escaped, raw in self._escaped:
            if raw in text:
                text = text.replace(raw, MASK)
        return text

    def json_text(self, text: str) -> str:
        """JSON ``text`` with every secret inside its strings replaced by ``***`` (still valid JSON)."""
        if not any(escaped in text for escaped, _raw in self._escaped):
            return text
        return json_text(self._walk(json.loads(text)))

    def value(self, value: Any) -> Any:
        """A copy of a JSON-like value with every secret inside its strings replaced by ``***``."""
        if not self._values:
            return value
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {key: self._walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._walk(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self._walk(item) for item in value)
        return value

    def event(self, event: E) -> E:
        """``event`` with its secrets hidden (itself when it holds none)."""
        if not self._values:
            return event
        changes = {}
        for spec in fields(event):
            item = getattr(event, spec.name)
            if isinstance(item, str | Mapping | list | tuple):
                hidden = self._walk(item)
                if hidden != item:
                    changes[spec.name] = hidden
        return replace(event, **changes) if changes else event


def contains_mask(value: Any) -> bool:
    """Whether a recorded value had a secret hidden in it (so restoring it would restore ``***``)."""
    if isinstance(value, str):
        return MASK in value
    if isinstance(value, Mapping):
        return any(contains_mask(item) for item in value.values())
    if isinstance(value, list):
        return any(contains_mask(item) for item in value)
    return False


@dataclass(frozen=True, slots=True)
class WorkflowSecrets:
    """What a workflow says is secret: the names of its secret run inputs, and the secret values written
    in it (constants under sensitive names)."""

    inputs: frozenset[str] = frozenset()
    constants: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.inputs or self.constants)

    @classmethod
    def of(cls, workflow: Workflow) -> WorkflowSecrets:
        starts = {node.id for node in _all_nodes(workflow.nodes) if node.type == FlowgramNodeType.START}
        inputs: set[str] = set()
        constants: set[str] = set()
        for node in _all_nodes(workflow.nodes):
            if node.id in starts:
                inputs.update(_secret_properties(node))
            for name, value in (*node.inputs_values.items(), *node.data.items()):
                _scan(name, value, False, starts, inputs, constants)
        return cls(frozenset(inputs), frozenset(constants))

    def shown_inputs(self, inputs: Mapping[str, Any], masker: Masker) -> dict[str, Any]:
        """A run's inputs as recorded and shown: secret inputs ``***``, secret values hidden elsewhere."""
        shown = {name: MASK if name in self.inputs else value for name, value in inputs.items()}
        return masker.value(shown) if masker else shown


def _all_nodes(nodes: list[Node]) -> Iterable[Node]:
    work = list(nodes)
    while work:
        node = work.pop()
        yield node
        work.extend(node.blocks)


def _secret_properties(node: Node) -> Iterable[str]:
    properties = node.outputs.properties if node.outputs is not None else None
    for name, schema in (properties or {}).items():
        extra = schema.model_extra or {}
        if extra.get("format") == "password" or extra.get("writeOnly") is True:
            yield name


def _scan(
    name: Any, value: Any, secret: bool, starts: set[str], inputs: set[str], constants: set[str]
) -> None:
    """Collect the secrets under ``name``: constants in clear, and the start inputs that refs and templates
    there read. ``secret``: an enclosing name was sensitive already."""
    secret = secret or (isinstance(name, str) and is_sensitive(name))
    if isinstance(value, Mapping):
        kind = value.get("type")
        if isinstance(kind, str) and kind in _FLOW_VALUE_KINDS and "content" in value:  # a flow value
            content = value["content"]
            if kind == FlowValueType.CONSTANT:
                _scan(None, content, secret, starts, inputs, constants)
            elif kind == FlowValueType.REF and secret:
                if isinstance(content, list) and len(content) >= 2 and content[0] in starts:
                    inputs.add(str(content[1]))
            elif kind == FlowValueType.TEMPLATE and secret:
                _scan_template(content, starts, inputs)
            return  # a secret by name, an expression: nothing in clear
        for key, item in value.items():
            if key == _ENV and not secret:
                continue  # a process's environment (shell, sandbox nodes) is its own: see the module
            if not (secret and key in _SCHEMA_WORDS and isinstance(item, str)):
                _scan(key, item, secret, starts, inputs, constants)
    elif isinstance(value, list):
        for item in value:
            _scan(None, item, secret, starts, inputs, constants)
    elif isinstance(value, str):
        if secret and len(value) >= MIN_SECRET_LENGTH:
            constants.add(value)
        if secret:
            _scan_template(value, starts, inputs)


def _scan_template(text: Any, starts: set[str], inputs: set[str]) -> None:
    if isinstance(text, str):
        for node_id, key in _PLACEHOLDER.findall(text):
            if node_id in starts:
                inputs.add(key)


def reveal_secret(masker: Masker, name: str) -> str:
    """The secret ``name`` of a run (from the environment), hidden in what the run shows from now on."""
    value = environment_secret(name)
    masker.add(value)
    return value
