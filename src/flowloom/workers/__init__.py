"""Where blocking, CPU-bound or untrusted work runs (DESIGN "Workers").

``Workers`` is the seam node executors use (``ctx.workers``): ``ThreadWorkers`` (the default) runs Python
calls on a bounded thread pool and untrusted code on a ``Sandbox``; ``SandboxPool`` is that sandbox, a warm
pool of isolated worker processes running Python (RestrictedPython) and JavaScript (QuickJS); ``DaskWorkers``
runs both kinds of work on a Dask cluster (the ``dask`` extra). The sandbox and Dask modules load on first
use of their names: a pipeline needs threads only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowloom.ir import CodeLanguage, CodeLimits, Sandbox, Workers, WorkKey

from ._threads import ThreadWorkers

if TYPE_CHECKING:
    from ._dask import DaskWorkers
    from ._sandbox import Isolation, SandboxPool

__all__ = [
    "CodeLanguage",
    "CodeLimits",
    "DaskWorkers",
    "Isolation",
    "Sandbox",
    "SandboxPool",
    "ThreadWorkers",
    "WorkKey",
    "Workers",
]


def __getattr__(name: str) -> object:
    if name in ("Isolation", "SandboxPool"):
        from . import _sandbox

        return getattr(_sandbox, name)
    if name == "DaskWorkers":
        from ._dask import DaskWorkers

        return DaskWorkers
    raise AttributeError(f"module 'flowloom.workers' has no attribute {name!r}")
