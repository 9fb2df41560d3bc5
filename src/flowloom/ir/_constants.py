"""Closed sets of the workflow model: statuses, port names, branch ids, variable types."""

from __future__ import annotations

from enum import StrEnum

DEFAULT_OUTPUT_PORT = "defaultOutput"
DEFAULT_INPUT_PORT = "defaultInput"
ELSE_BRANCH = "else"
GLOBAL_NAMESPACE = "global"
LOOP_LOCALS_SUFFIX = "_locals"


class Status(StrEnum):
    """Status of a run or of a node. Upstream flowgram uses all but ``skipped`` and ``waiting`` (a node
    waiting for the outside world, and a run that can go no further until it is answered: see ``Wait``)."""

    PENDING = "pending"
    PROCESSING = "processing"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    SKIPPED = "skipped"

    @property
    def terminated(self) -> bool:
        return self not in (Status.PENDING, Status.PROCESSING, Status.WAITING)


class OnError(StrEnum):
    """What a node failure does to the rest of the run."""

    STOP = "stop"  # flowgram: the first failure fails the run and cancels siblings
    CONTINUE = "continue"  # Pipeline: dependents are skipped, independent branches finish
    PROCEED = "proceed"  # flowengine ContinueOnError: a failed node counts as finished, dependents run


class Activation(StrEnum):
    """How a node becomes ready. ``all``: a join that runs once, when all its incoming edges have settled
    (dead-path elimination). ``any``: re-entrant, each taken incoming edge activates it once more (cycles
    may pass through such nodes). ``pull``: never scheduled; a consumer pulls it while resolving its inputs
    (a data-only node)."""

    ALL = "all"
    ANY = "any"
    PULL = "pull"


class SkipReason(StrEnum):
    UPSTREAM_FAILED = "upstream_failed"


class VariableType(StrEnum):
    """Value types of flowgram variables (upstream ``WorkflowVariableType``)."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    OBJECT = "object"
    ARRAY = "array"
    MAP = "map"
    DATE_TIME = "date-time"
    NULL = "null"


class FlowValueType(StrEnum):
    CONSTANT = "constant"
    REF = "ref"
    TEMPLATE = "template"
    EXPRESSION = "expression"
    SECRET = "secret"  # content: the name of an environment variable, read when the node runs


class FlowgramNodeType(StrEnum):
    """Node types of flowgram.ai workflows (upstream ``FlowGramNode``)."""

    ROOT = "root"
    START = "start"
    END = "end"
    LLM = "llm"
    CODE = "code"
    CONDITION = "condition"
    LOOP = "loop"
    COMMENT = "comment"
    GROUP = "group"
    BLOCK_START = "block-start"
    BLOCK_END = "block-end"
    HTTP = "http"
    BREAK = "break"
    CONTINUE = "continue"
