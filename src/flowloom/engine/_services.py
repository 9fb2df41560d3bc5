"""Services and limits the composition root injects into node executors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeLimits:
    """Limits of a code node execution (upstream: 32 MB, 512 KB stack, 60 s).

    ``inline_budget_s``: a JavaScript script first runs on the event loop for at most this long; one that
    needs more is restarted in a worker thread under the full ``time_limit_s``. Scripts have no host
    access, so the abandoned first attempt leaves no trace, and short scripts skip the thread hand-off
    (which costs more than the script). 0 always uses the thread.
    """

    time_limit_s: float = 60.0
    memory_bytes: int = 32 * 1024 * 1024
    stack_bytes: int = 512 * 1024
    inline_budget_s: float = 0.005


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    """What executors may use besides their inputs. ``extra`` holds third-party services by name."""

    code_limits: CodeLimits = field(default_factory=CodeLimits)
    extra: dict[str, Any] = field(default_factory=dict)
