"""The public surface is deliberate: pinned names, layering rules, and a light ``import flowloom``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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
    "SchedulerConfig",
    "Services",
    "Status",
    "TaskRegistry",
    "TaskSpec",
    "ThreadWorkers",
    "ValidationResult",
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


def _imports_of(package: str) -> set[str]:
    """Every flowloom module the modules of ``package`` import, relative imports resolved."""
    root = Path(flowloom.__file__).parent
    found: set[str] = set()
    for path in (root / package.replace(".", "/")).rglob("*.py"):
        module = ".".join(("flowloom", *path.relative_to(root).with_suffix("").parts))
        tree = ast.parse(path.read_text())
        for stmt in ast.walk(tree):
            if isinstance(stmt, ast.ImportFrom):
                base = module.rsplit(".", stmt.level)[0] if stmt.level else ""
                found.add(f"{base}.{stmt.module}" if base and stmt.module else base or stmt.module or "")
            elif isinstance(stmt, ast.Import):
                found.update(alias.name for alias in stmt.names)
    return {name for name in found if name.startswith("flowloom")}


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_ir_imports_no_other_layer() -> None:
    assert {m for m in _imports_of("ir") if not m.startswith("flowloom.ir")} == set()


def test_formats_import_only_the_ir() -> None:
    assert {
        m for m in _imports_of("formats") if not m.startswith(("flowloom.ir", "flowloom.formats"))
    } == set()


def test_engine_imports_no_node_type_or_host() -> None:
    assert {m for m in _imports_of("engine") if not m.startswith(("flowloom.ir", "flowloom.engine"))} == set()


def test_nodes_import_only_ir_and_engine() -> None:
    allowed = ("flowloom.ir", "flowloom.engine", "flowloom.nodes")
    assert {m for m in _imports_of("nodes") if not m.startswith(allowed)} == set()


def test_workers_import_only_the_ir() -> None:
    assert {
        m for m in _imports_of("workers") if not m.startswith(("flowloom.ir", "flowloom.workers"))
    } == set()


def test_pipeline_imports_only_ir_engine_and_workers() -> None:
    # a Pipeline is its own composition root: it makes the engine, and the ThreadWorkers its sync tasks use
    allowed = ("flowloom.ir", "flowloom.engine", "flowloom.workers", "flowloom.pipeline")
    assert {m for m in _imports_of("pipeline") if not m.startswith(allowed)} == set()


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
