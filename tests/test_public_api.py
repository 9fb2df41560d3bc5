"""The public surface is deliberate: pinned names and a light ``import flowloom`` (the layers:
test_layering.py)."""

from __future__ import annotations

import subprocess
import sys

import flowloom

PUBLIC_NAMES = [
    "CodeLimits",
    "Durability",
    "Engine",
    "EventBus",
    "FlowloomError",
    "HttpLimits",
    "InvalidWorkflowError",
    "Lazy",
    "NodeContext",
    "NodeError",
    "NodeExecutor",
    "NodeRegistry",
    "NodeResult",
    "Pipeline",
    "PipelineRun",
    "Report",
    "Run",
    "RunCancelledError",
    "RunContext",
    "RunFailedError",
    "RunHook",
    "RunOwnedError",
    "RunWaitingError",
    "SchedulerConfig",
    "Services",
    "Status",
    "TaskRegistry",
    "TaskSpec",
    "ThreadWorkers",
    "Traits",
    "ValidationResult",
    "Wait",
    "WaitError",
    "WorkKey",
    "Workers",
    "Workflow",
    "__version__",
    "create_app",
    "default_engine",
    "fn_hook",
    "register_executor",
    "run",
    "run_sync",
    "set_default_engine",
    "start",
    "validate",
]


def test_public_names_are_pinned_and_sorted() -> None:
    assert flowloom.__all__ == PUBLIC_NAMES
    assert sorted(flowloom.__all__) == flowloom.__all__
    for name in flowloom.__all__:
        assert hasattr(flowloom, name), name


# flowloom.flowengine (flowengine's Python SDK); FlowClient joins with the flowengine REST API
FLOWENGINE_NAMES = [
    "Connection",
    "ExecutingClient",
    "Flow",
    "FlowBuilder",
    "FlowDefinitionError",
    "FlowRunError",
    "NodeHandle",
    "NodeSpec",
    "RetryPolicy",
    "Sandbox",
    "SandboxConfig",
    "SandboxError",
    "Task",
    "WorkflowSpec",
    "task",
]


def test_flowengine_sdk_names_are_pinned_and_sorted() -> None:
    import flowloom.flowengine as sdk

    assert sdk.__all__ == FLOWENGINE_NAMES
    for name in sdk.__all__:
        assert hasattr(sdk, name), name


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


# What `import flowloom` must not load: hosts, optional services, and what only a run (asyncio), a
# third-party node type (importlib.metadata) or an event subscriber (anyio's streams) needs.
NOT_ON_IMPORT = {
    "anyio.streams.memory",
    "asyncio",
    "fastapi",
    "flowloom.pipeline",
    "flowloom.server",
    "flowloom.stores",
    "flowloom.workers",
    "httpx",
    "importlib.metadata",
    "openai",
    "quickjs",
    "rich",
    "sqlalchemy",
    "typer",
    "uvicorn",
}


def test_import_flowloom_stays_light() -> None:
    assert _modules_after("import flowloom") & NOT_ON_IMPORT == set()
