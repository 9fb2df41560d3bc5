"""``RunContext``: typed run dependencies, reporting metadata, deadlines and cooperative cancellation."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Generic, NoReturn, TypeVar

from flowloom.ir import FlowloomError, Wait

DepsT = TypeVar("DepsT")

_SLOTS = frozenset(
    {"_answers", "_control", "_deadline", "_hide", "deps", "metadata", "run_id", "task_name", "timeout_s"}
)
_NO_ANSWERS: Mapping[str, Any] = MappingProxyType({})


class WaitingForInput(BaseException):
    """Raised by ``RunContext.wait_for_input`` for a question not answered yet: the task stops there and
    the run waits. A ``BaseException``, so that a task's ``except Exception`` does not swallow it."""

    def __init__(self, wait: Wait) -> None:
        super().__init__(f"waiting for input {wait.key!r}")
        self.wait = wait


class RunCancelledError(FlowloomError):
    """Raised by ``RunContext.raise_if_cancelled()`` in a run that was canceled or is past its deadline."""


class RunControl:
    """What the tasks of one run can observe: whether it was canceled (and why), and its deadline
    (``time.monotonic()`` seconds, or ``None``)."""

    __slots__ = ("cancelled", "deadline", "reason")

    def __init__(self, deadline: float | None = None) -> None:
        self.cancelled = False
        self.deadline = deadline
        self.reason = "canceled"

    def cancel(self, reason: str) -> None:
        if not self.cancelled:
            self.cancelled = True
            self.reason = reason


class RunContext(Generic[DepsT]):
    """What a task gets in its ``RunContext``-annotated parameter: ``deps`` (whose attributes, or keys for a
    mapping, read as the context's own: ``context.source_path``), ``metadata`` for the run report, and the
    run's deadline and cancellation.

    Immutable: ``with_metadata()`` and ``with_timeout()`` return new contexts. ``timeout_s`` bounds a run
    that starts with this context: past it, the run is canceled (its async tasks really stop; sync tasks
    see it through ``raise_if_cancelled()``).
    """

    __slots__ = (
        "_answers",
        "_control",
        "_deadline",
        "_hide",
        "deps",
        "metadata",
        "run_id",
        "task_name",
        "timeout_s",
    )

    deps: DepsT
    metadata: Mapping[str, Any]
    timeout_s: float | None
    run_id: str | None
    task_name: str | None
    _control: RunControl | None
    _deadline: float | None
    _answers: Mapping[str, Any]
    _hide: Callable[[str], None] | None

    def __init__(
        self, deps: DepsT, *, metadata: Mapping[str, Any] | None = None, timeout_s: float | None = None
    ) -> None:
        if timeout_s is not None and (
            isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not timeout_s > 0
        ):
            raise ValueError(f"RunContext timeout_s must be a positive number of seconds, not {timeout_s!r}")
        _set(self, "deps", deps)
        _set(self, "metadata", MappingProxyType(dict(metadata or {})))
        _set(self, "timeout_s", timeout_s)
        _set(self, "run_id", None)
        _set(self, "task_name", None)
        _set(self, "_control", None)
        _set(self, "_deadline", None)
        _set(self, "_answers", _NO_ANSWERS)
        _set(self, "_hide", None)

    def with_metadata(self, **metadata: Any) -> RunContext[DepsT]:
        """A copy with ``metadata`` added (later keys win). The run report keeps the metadata."""
        return RunContext(self.deps, metadata={**self.metadata, **metadata}, timeout_s=self.timeout_s)

    def with_timeout(self, timeout_s: float | None) -> RunContext[DepsT]:
        """A copy whose runs are canceled ``timeout_s`` seconds after they start (``None``: no limit)."""
        return RunContext(self.deps, metadata=self.metadata, timeout_s=timeout_s)

    def time_remaining_s(self) -> float | None:
        """Seconds left before the nearer of the run's deadline and the task's ``timeout_s`` (0 once past
        it); ``None`` when neither is set."""
        deadline = self._deadline
        if deadline is None:
            return None
        return max(0.0, deadline - time.monotonic())

    def deadline_exceeded(self) -> bool:
        """Whether the run's or the task's deadline has passed."""
        deadline = self._deadline
        return deadline is not None and time.monotonic() >= deadline

    def is_cancelled(self) -> bool:
        """Whether the run was canceled (by ``cancel()``, its caller, or its deadline)."""
        control = self._control
        return control is not None and control.cancelled

    def raise_if_cancelled(self) -> None:
        """Raise ``RunCancelledError`` if the run was canceled or the deadline has passed: a long
        synchronous task calls this now and then to stop early."""
        control = self._control
        if control is not None and control.cancelled:
            raise RunCancelledError(f'run {self.run_id} {control.reason} (in task "{self.task_name}")')
        if self.deadline_exceeded():
            raise RunCancelledError(f'task "{self.task_name}" of run {self.run_id} is past its deadline')

    def secret(self, name: str) -> str:
        """The secret ``name``, read from the environment now (never stored): the run shows and records it
        as ``***`` from then on (reports, events, the store). ``FlowloomError`` if it is not set."""
        value = os.environ.get(name)
        if value is None:
            raise FlowloomError(f'secret "{name}" is not set: set the environment variable {name}')
        if self._hide is not None:
            self._hide(value)
        return value

    def wait_for_input(
        self,
        key: str,
        *,
        prompt: str | None = None,
        choices: Sequence[Any] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Any:
        """The answer to the question ``key`` (any JSON value), once given. Until then the task stops here
        and the run waits (status ``waiting``, recorded in the pipeline's store); ``pipeline.resume(run_id,
        payload=..., key=key)``, from any process sharing the store, answers it, and the task runs again
        from its start: this call then returns the payload. So a task that waits must be safe to run again
        up to this call (no side effect before it that must not happen twice)."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"wait_for_input needs a non-empty string key, not {key!r}")
        answers = self._answers
        if key in answers:
            return answers[key]
        raise WaitingForInput(
            Wait(
                key=key,
                prompt=prompt,
                choices=list(choices) if choices is not None else None,
                details=dict(details or {}),
            )
        )

    def bind(
        self,
        control: RunControl,
        run_id: str,
        task_name: str,
        timeout_s: float | None,
        answers: Mapping[str, Any] = _NO_ANSWERS,
        hide: Callable[[str], None] | None = None,
    ) -> RunContext[DepsT]:
        """The context one task attempt sees: this run's control, a deadline that is the nearer of the
        run's and ``timeout_s`` from now, the answers of the task's waits, and how it hides a secret."""
        bound = RunContext.__new__(RunContext)
        for name in ("deps", "metadata", "timeout_s"):
            _set(bound, name, getattr(self, name))
        _set(bound, "run_id", run_id)
        _set(bound, "task_name", task_name)
        _set(bound, "_control", control)
        _set(bound, "_answers", answers)
        _set(bound, "_hide", hide)
        deadline = control.deadline
        if timeout_s is not None:
            own = time.monotonic() + timeout_s
            deadline = own if deadline is None else min(deadline, own)
        _set(bound, "_deadline", deadline)
        return bound

    def __getattr__(self, name: str) -> Any:
        if name in _SLOTS or name.startswith("__"):
            raise AttributeError(name)
        deps = self.deps
        try:
            return getattr(deps, name)
        except AttributeError:
            if isinstance(deps, Mapping) and name in deps:
                return deps[name]
        raise AttributeError(
            f"RunContext has no attribute {name!r}, and neither has its deps ({type(deps).__name__})"
        )

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError(f"RunContext is immutable; use with_metadata() or with_timeout() ({name!r})")

    def __repr__(self) -> str:
        extra = f", timeout_s={self.timeout_s!r}" if self.timeout_s is not None else ""
        return f"RunContext({self.deps!r}, metadata={dict(self.metadata)!r}{extra})"


def run_context(context: object, pipeline: str) -> RunContext[Any]:
    """What a run of ``pipeline`` was given as its context, checked: a ``RunContext``, or an empty one for
    ``None``. ``TypeError`` for anything else (deps given bare, say)."""
    if context is None:
        return RunContext(None)
    if isinstance(context, RunContext):
        return context
    raise TypeError(
        f'pipeline "{pipeline}": a run\'s context must be a RunContext or None, not {type(context).__name__} '
        f"({context!r}): pass RunContext(deps=...) to give the tasks their dependencies"
    )


def _set(context: RunContext[Any], name: str, value: Any) -> None:
    object.__setattr__(context, name, value)
