"""The workflow model every front door compiles to (flowgram JSON, Pipeline, later others)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer
from pydantic.alias_generators import to_camel

from ._constants import DEFAULT_INPUT_PORT, DEFAULT_OUTPUT_PORT, Activation, OnError
from ._triggers import Trigger

# Every model defers building its validators to first use: a CLI run that only loads flowgram JSON (built
# with model_construct) never pays for them.


class JsonSchema(BaseModel):
    """The JSON-schema subset flowgram uses to declare inputs, outputs and variables."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True, defer_build=True)

    type: str | None = None
    default: Any = None
    title: str | None = None
    description: str | None = None
    enum: list[Any] | None = None
    properties: dict[str, JsonSchema] | None = None
    additional_properties: JsonSchema | bool | None = Field(default=None, alias="additionalProperties")
    items: JsonSchema | None = None
    required: list[str] | None = None
    ref: str | None = Field(default=None, alias="$ref")


class FlowValue(BaseModel):
    """A value bound to a node input: ``constant``, ``ref [nodeID, key, ...path]``, ``template`` or
    ``expression`` (reserved). ``type`` stays a plain string so an unknown kind fails when it is used,
    with the node that uses it named."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    type: str
    content: Any = None


class RetryPolicy(BaseModel):
    """How often a failed node is tried again, and how long to wait in between. Accepts camelCase keys
    (``maxAttempts``) as flowgram JSON spells them."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True, defer_build=True)

    max_attempts: int = Field(default=1, ge=1)
    delay_s: float = Field(default=0.0, ge=0)
    backoff: float = Field(default=2.0, ge=1)
    max_delay_s: float = Field(default=60.0, ge=0)
    retry_on_timeout: bool = True

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before ``attempt`` (2, 3, ...): exponential, capped."""
        return min(self.delay_s * self.backoff ** (attempt - 2), self.max_delay_s)


class CachePolicy(BaseModel):
    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True, defer_build=True)

    ttl_s: float | None = None


class Edge(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    source: str
    target: str
    source_port: str = DEFAULT_OUTPUT_PORT
    target_port: str = DEFAULT_INPUT_PORT


class Node(BaseModel):
    """One node. ``data`` holds what the node type reads (script, conditions, loopFor, ...); the
    declarations (title, inputs, inputs_values, outputs) are split off it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    type: str
    title: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    inputs: JsonSchema | None = None
    inputs_values: dict[str, Any] = Field(default_factory=dict)
    outputs: JsonSchema | None = None
    blocks: list[Node] = Field(default_factory=list)
    block_edges: list[Edge] = Field(default_factory=list)
    retry: RetryPolicy | None = None
    timeout_s: float | None = Field(default=None, gt=0)
    deadline_s: float | None = Field(default=None, gt=0)  # all attempts and retry delays together
    cache: CachePolicy | None = None
    activation: Activation = Activation.ALL
    max_activations: int | None = Field(default=None, ge=1)  # ``any`` nodes: more activations fail


class WorkflowSettings(BaseModel):
    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True, defer_build=True)

    on_error: OnError = OnError.STOP
    max_parallel: int | None = Field(default=None, ge=1)
    run_attempts: int = Field(default=1, ge=1)  # a failed run starts over as a whole, up to this many times


class Workflow(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    nodes: list[Node]
    edges: list[Edge] = Field(default_factory=list)
    global_variables: JsonSchema | None = None
    settings: WorkflowSettings = Field(default_factory=WorkflowSettings)
    name: str | None = None
    triggers: list[Trigger] = Field(default_factory=list)

    @model_serializer(mode="wrap")
    def _no_empty_triggers(self, handler: SerializerFunctionWrapHandler) -> Any:
        # a workflow without triggers dumps as before they existed: its content hash (the store's key for
        # the workflow of a run) stays the same
        dumped = handler(self)
        if not self.triggers and isinstance(dumped, dict):
            dumped.pop("triggers", None)
        return dumped
