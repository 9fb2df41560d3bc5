"""The composition root's defaults: what an ``Engine`` built without them uses. The engine imports this
module on first need, so that ``flowloom.engine`` itself depends on no node type, format, store or worker."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from .engine import Lazy, SecretBox, Services
from .formats import FormatRegistry, default_formats
from .formats.flowgram import workflow_input_check
from .ir import RunStore, Sandbox, Workers
from .nodes import NodeRegistry


def registry() -> NodeRegistry:
    """Every built-in node type, and those of installed packages (entry points ``flowloom.nodes``)."""
    return NodeRegistry.default()


def formats() -> FormatRegistry:
    return default_formats()


__all__ = [
    "data_dir",
    "formats",
    "given_workers",
    "open_store",
    "registry",
    "secret_box",
    "services",
    "workflow_input_check",
]


def data_dir() -> Path:
    """The per-user data directory (XDG on Linux; the platform's own elsewhere)."""
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def secret_box() -> SecretBox:
    """The key that encrypts runs' secrets in the store: ``$FLOWLOOM_SECRET_KEY``, else the key file in
    flowloom's data directory (beside the default SQLite store), made there once with mode 0600."""
    return SecretBox.from_environment(data_dir() / "flowloom")


def open_store(url: str) -> RunStore:
    """The store at a database URL (``sqlite:///…``, ``postgresql+psycopg://…``)."""
    from .stores import SqlStore  # SQLAlchemy loads only for engines that record

    return SqlStore(url)


def services(given: Services) -> Services:
    """``given`` with what it leaves out made on first use: a shared HTTP client, the code sandbox, the
    workers (threads, and that sandbox for code; also the local workers beside a cluster's), a headless
    browser and a Docker Engine API client."""
    if given.http is None:
        given = replace(given, http=Lazy(_http_client))
    if given.sandbox is None:
        memory = given.code_limits.python_memory_bytes
        given = replace(given, sandbox=Lazy(partial(_sandbox, memory)))
    if given.browser is None:
        given = replace(given, browser=Lazy(_browser))
    if given.containers is None:
        given = replace(given, containers=Lazy(_containers))
    if given.local_workers is None:  # threads here: the default workers, and those of local nodes
        threads = Lazy(partial(_workers, given.sandbox))
        given = replace(given, local_workers=threads, workers=given.workers or threads)
    return given


def given_workers(workers: Workers | str, services: Services) -> Lazy[Workers]:
    """The engine's workers: yours (``Lazy.of``: you close them), or made from a Dask address."""
    if not isinstance(workers, str):
        return Lazy.of(workers)
    memory = services.code_limits.python_memory_bytes
    return Lazy(partial(_dask_workers, workers, memory))


def _dask_workers(address: str, memory_bytes: int) -> Workers:
    try:
        from .workers import DaskWorkers  # distributed loads only for engines on a cluster
    except ImportError as exc:
        raise RuntimeError(
            f"workers={address!r} needs Dask: install flowloom with its dask extra (flowloom[dask]) ({exc})"
        ) from exc
    return DaskWorkers(address, memory_bytes=memory_bytes)


def _browser() -> Any:
    from .nodes.browser import Chromium  # Playwright loads when a browser.render node first runs

    return Chromium()


def _containers() -> Any:
    from .nodes.containers import DockerClient  # connects when a docker.run node first runs

    return DockerClient.from_env()


def _sandbox(memory_bytes: int) -> Sandbox:
    from .workers import SandboxPool  # worker processes start when a script first needs one

    return SandboxPool(memory_bytes=memory_bytes)


def _workers(sandbox: Lazy[Sandbox] | None) -> Workers:
    from .workers import ThreadWorkers  # threads start when a call first needs one

    return ThreadWorkers(sandbox=sandbox.get if sandbox is not None else None)


def _http_client() -> Any:
    import httpx  # imported on first use: runs without HTTP or LLM nodes never load it

    return httpx.AsyncClient(follow_redirects=True, timeout=httpx.Timeout(60.0))
