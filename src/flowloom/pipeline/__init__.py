"""Code-first pipelines: ``Pipeline`` and ``@pipeline.task()`` compile to the same workflow model and run
on the same engine as flowgram workflows."""

from __future__ import annotations

from ._compile import RESULT_KEY, TASK_NODE_TYPE, TaskError
from ._context import RunCancelledError, RunContext
from ._hooks import (
    DagEndEvent,
    DagStartEvent,
    HookEvent,
    RunHook,
    TaskEvent,
    TaskFailureEvent,
    TaskRetryEvent,
    TaskSkipEvent,
    TaskStartEvent,
    TaskSuccessEvent,
    fn_hook,
)
from ._pipeline import Pipeline
from ._registry import TaskRegistry
from ._report import TaskStatus
from ._runner import SchedulerConfig, UnknownRunError
from ._runs import PipelineRun
from ._spec import TaskSpec
from ._validate import InvalidPipelineError

__all__ = [
    "RESULT_KEY",
    "TASK_NODE_TYPE",
    "DagEndEvent",
    "DagStartEvent",
    "HookEvent",
    "InvalidPipelineError",
    "Pipeline",
    "PipelineRun",
    "RunCancelledError",
    "RunContext",
    "RunHook",
    "SchedulerConfig",
    "TaskError",
    "TaskEvent",
    "TaskFailureEvent",
    "TaskRegistry",
    "TaskRetryEvent",
    "TaskSkipEvent",
    "TaskSpec",
    "TaskStartEvent",
    "TaskStatus",
    "TaskSuccessEvent",
    "UnknownRunError",
    "fn_hook",
]
