"""``Pipeline.display()``: the DAG as an ASCII tree from its root tasks."""

from __future__ import annotations

from ._registry import TaskRegistry


def render(name: str, registry: TaskRegistry) -> str:
    """Each task under the tasks it depends on. A task with several dependencies is drawn in full under
    the first one reached and marked ``(^ above)`` under the others; ``[needs a, b]`` lists them."""
    count = len(registry)
    lines = [f"{name} ({count} task{'s' if count != 1 else ''})"]
    children = registry.dependents()
    order = registry.topological()
    roots = [task for task in order if not any(dep in registry for dep in registry[task].deps)]
    shown: set[str] = set()
    stack = [(task, "", i == len(roots) - 1) for i, task in reversed(list(enumerate(roots)))]
    while stack:
        task, prefix, last = stack.pop()
        spec = registry[task]
        label = task
        if len(spec.deps) > 1:
            label += f"  [needs {', '.join(spec.deps)}]"
        missing = [dep for dep in spec.deps if dep not in registry]
        if missing:
            label += f"  (unknown: {', '.join(missing)})"
        if task in shown:
            label = f"{task}  (^ above)"
        lines.append(f"{prefix}{'`-- ' if last else '|-- '}{label}")
        if task in shown:
            continue
        shown.add(task)
        below = children[task]
        inner = prefix + ("    " if last else "|   ")
        stack.extend((child, inner, i == len(below) - 1) for i, child in reversed(list(enumerate(below))))
    rest = [task for task in order if task not in shown]
    if rest:
        lines.append(f"not reachable from a root (a cycle): {', '.join(rest)}")
    return "\n".join(lines)
