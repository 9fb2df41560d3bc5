"""What is wrong with a pipeline, in messages that name the task and suggest the nearest name."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable

from flowloom.ir import InvalidWorkflowError

from ._registry import TaskRegistry
from ._spec import UPSTREAM, TaskSpec


class InvalidPipelineError(InvalidWorkflowError):
    """A pipeline that cannot run; ``errors`` lists every problem. A ``ValueError``."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` Did you mean "x"?`` for the closest candidate, or nothing."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f' Did you mean "{close[0]}"?' if close else ""


def known_tasks(kind: str, names: Iterable[str], registry: TaskRegistry, pipeline: str) -> list[str]:
    """``names`` as a list (any iterable, read once), or ``ValueError`` naming every unknown task of them
    (e.g. subgraph targets, resume checkpoints)."""
    if isinstance(names, str):
        raise TypeError(f"{kind} must be a list of task names, not the string {names!r}")
    names = list(names)
    unknown = [name for name in names if name not in registry]
    if unknown:
        raise InvalidPipelineError(
            [
                f'unknown {kind} "{name}": pipeline "{pipeline}" has no such task.'
                + did_you_mean(name, registry)
                for name in unknown
            ]
        )
    return names


def problems(pipeline: str, registry: TaskRegistry) -> list[str]:
    """Everything that keeps ``registry`` from running: no tasks, unknown dependencies, dependencies on
    other pipelines' tasks, cycles, and required parameters nothing provides."""
    if not len(registry):
        return [f'pipeline "{pipeline}" has no tasks: register some with @pipeline.task()']
    found: list[str] = []
    for spec in registry.specs():
        found.extend(spec.foreign)
        found.extend(
            f'task "{spec.name}" depends on "{dep}", which is not a task of pipeline "{pipeline}".'
            + did_you_mean(dep, registry)
            for dep in spec.deps
            if dep not in registry
        )
        found.extend(_unprovided(spec, param, registry) for param in spec.unprovided)
    cycle = registry.find_cycle()
    if cycle is not None:
        found.append(f"dependency cycle: {' -> '.join(cycle)} (each task depends on the next)")
    return found


def _unprovided(spec: TaskSpec, param: str, registry: Collection[str]) -> str:
    where = f'task "{spec.name}": required parameter "{param}"'
    if param in registry and spec.takes_upstream:
        return (
            f'{where} is not given: a task with an "{UPSTREAM}" parameter gets its dependency results '
            f'only in upstream["{param}"]'
        )
    if param in registry and spec.inferred:
        return (
            f'{where} names task "{param}", which was registered after it; inferred dependencies only see '
            f'tasks registered before: pass deps=["{param}"]'
        )
    if param in registry:
        return f'{where} names task "{param}", which is not among its deps {list(spec.deps)}: add it to deps'
    return (
        f"{where} cannot be provided: it is not a dependency, not {UPSTREAM!r} and not annotated RunContext."
        + did_you_mean(param, [*registry, UPSTREAM])
    )
