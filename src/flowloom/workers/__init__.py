"""Sandboxed execution of user Python code: a warm pool of isolated worker processes (``SandboxPool``)."""

from __future__ import annotations

from ._sandbox import Isolation, SandboxPool

__all__ = ["Isolation", "SandboxPool"]
