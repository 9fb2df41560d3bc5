"""The engine: plans, the scheduler, value resolution, events, ``Engine`` and ``Run``.

Node executors (``flowloom.nodes``, third-party node types) use only the executor seam below: what an
executor is (``NodeExecutor``, ``Traits``, ``NodeMetadata`` with its ``ConfigKey``s, ``NodeResult``,
``NodeError``; ``NodeTimeout`` for a time limit of its own, retried only with ``retry_on_timeout``), what
it sees while it runs (``NodeContext``, ``Iteration``), and flow values
(``compile_flow_value`` and ``compile_strict_ref`` make a ``Resolver`` once, ``NodeContext.resolve`` gives
its ``TypedValue`` in the node's scope; ``infer_type``, ``same_type``, ``UNDEFINED``).
``tests/test_layering.py`` pins that list.
"""

from __future__ import annotations

from flowloom.ir import UNDEFINED, CodeLimits, Sandbox, js_json, template_text

from ._activation import Trigger
from ._bus import EventBus
from ._children import ChildOutcome, ChildRuns
from ._context import Iteration, NodeContext
from ._cron import CronSchedule
from ._engine import NO_ANSWER, Engine
from ._errors import BlockFailed, FlowloomError, InvalidWorkflowError, NodeError, NodeTimeout, message_of
from ._gc import collector_paused
from ._inputs import nonfinite_input_errors
from ._journal import Durability
from ._leases import DEFAULT_LEASE_TTL_S
from ._loading import WorkflowSource
from ._metadata import ConfigKey, NodeMetadata, metadata_of
from ._plan import CompiledWorkflow, InputCheck, Plan
from ._protocols import ExecutorLookup, NodeExecutor, NodeResult, Traits, traits_of
from ._records import records_from_rows
from ._run import Run, RunFailedError, RunOwnedError
from ._secretbox import SECRET_KEY_ENV, SecretBox, SecretKeyError
from ._secrets import MASK, Masker, WorkflowSecrets, is_sensitive
from ._services import HttpLimits, Lazy, Services
from ._strict import strict_errors
from ._values import (
    FlowValueError,
    Resolver,
    TypedValue,
    compile_flow_value,
    compile_strict_ref,
    infer_type,
    same_type,
)
from ._workers import LOCAL_WORKERS, WORKERS_KEY, NodeWorkers

__all__ = [
    "DEFAULT_LEASE_TTL_S",
    "LOCAL_WORKERS",
    "MASK",
    "NO_ANSWER",
    "SECRET_KEY_ENV",
    "UNDEFINED",
    "WORKERS_KEY",
    "BlockFailed",
    "ChildOutcome",
    "ChildRuns",
    "CodeLimits",
    "CompiledWorkflow",
    "ConfigKey",
    "CronSchedule",
    "Durability",
    "Engine",
    "EventBus",
    "ExecutorLookup",
    "FlowValueError",
    "FlowloomError",
    "HttpLimits",
    "InputCheck",
    "InvalidWorkflowError",
    "Iteration",
    "Lazy",
    "Masker",
    "NodeContext",
    "NodeError",
    "NodeExecutor",
    "NodeMetadata",
    "NodeResult",
    "NodeTimeout",
    "NodeWorkers",
    "Plan",
    "Resolver",
    "Run",
    "RunFailedError",
    "RunOwnedError",
    "Sandbox",
    "SecretBox",
    "SecretKeyError",
    "Services",
    "Traits",
    "Trigger",
    "TypedValue",
    "WorkflowSecrets",
    "WorkflowSource",
    "collector_paused",
    "compile_flow_value",
    "compile_strict_ref",
    "infer_type",
    "is_sensitive",
    "js_json",
    "message_of",
    "metadata_of",
    "nonfinite_input_errors",
    "records_from_rows",
    "same_type",
    "strict_errors",
    "template_text",
    "traits_of",
]
