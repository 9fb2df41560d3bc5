"""The engine: plans, the scheduler, value resolution, events, ``Engine`` and ``Run``."""

from __future__ import annotations

from flowloom.ir import UNDEFINED, js_json, template_text

from ._bus import EventBus
from ._context import NodeContext
from ._engine import Engine
from ._errors import BlockFailed, FlowloomError, InvalidWorkflowError, NodeTimeout, message_of
from ._gc import collector_paused
from ._inputs import nonfinite_input_errors
from ._journal import Durability
from ._leases import DEFAULT_LEASE_TTL_S
from ._plan import CompiledWorkflow, InputCheck, Plan
from ._protocols import ExecutorLookup, NodeError, NodeExecutor, NodeResult
from ._records import records_from_rows
from ._run import Run, RunFailedError, RunOwnedError
from ._scope import Scope
from ._services import CodeLimits, HttpLimits, Lazy, Sandbox, Services
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

__all__ = [
    "DEFAULT_LEASE_TTL_S",
    "UNDEFINED",
    "BlockFailed",
    "CodeLimits",
    "CompiledWorkflow",
    "Durability",
    "Engine",
    "EventBus",
    "ExecutorLookup",
    "FlowValueError",
    "FlowloomError",
    "HttpLimits",
    "InputCheck",
    "InvalidWorkflowError",
    "Lazy",
    "NodeContext",
    "NodeError",
    "NodeExecutor",
    "NodeResult",
    "NodeTimeout",
    "Plan",
    "Resolver",
    "Run",
    "RunFailedError",
    "RunOwnedError",
    "Sandbox",
    "Scope",
    "Services",
    "TypedValue",
    "collector_paused",
    "compile_flow_value",
    "compile_strict_ref",
    "infer_type",
    "js_json",
    "message_of",
    "nonfinite_input_errors",
    "records_from_rows",
    "same_type",
    "strict_errors",
    "template_text",
]
