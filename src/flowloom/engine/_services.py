"""Services and limits the composition root injects into node executors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeLimits:
    """Limits of a code node execution (upstream: 32 MB, 512 KB stack, 60 s)."""

    time_limit_s: float = 60.0
    memory_bytes: int = 32 * 1024 * 1024
    stack_bytes: int = 512 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    """What executors may use besides their inputs. ``extra`` holds third-party services by name."""

    code_limits: CodeLimits = field(default_factory=CodeLimits)
    extra: dict[str, Any] = field(default_factory=dict)
