"""``TaskRegistry``: the tasks of one pipeline by name, and the graph they form."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator

from ._spec import TaskSpec


class TaskRegistry:
    """The tasks of one pipeline, in registration order. Names are unique within a registry; different
    pipelines may reuse them. ``version`` changes with every change (compiled plans are keyed by it)."""

    __slots__ = ("_specs", "version")

    def __init__(self, specs: Iterable[TaskSpec] = ()) -> None:
        self._specs: dict[str, TaskSpec] = {}
        self.version = 0
        for spec in specs:
            self.add(spec)

    def add(self, spec: TaskSpec) -> None:
        """Register ``spec``. ``ValueError`` if a task of that name exists."""
        existing = self._specs.get(spec.name)
        if existing is not None:
            raise ValueError(
                f'task "{spec.name}" is already registered (by {existing.function_name}); task names must be '
                f"unique within a pipeline: pass name=... to register {spec.function_name} under another name"
            )
        self._specs[spec.name] = spec
        self.version += 1

    def replace(self, spec: TaskSpec) -> None:
        """Put ``spec`` in place of the task of the same name, keeping its position."""
        if spec.name not in self._specs:
            raise KeyError(spec.name)
        self._specs[spec.name] = spec
        self.version += 1

    def __getitem__(self, name: str) -> TaskSpec:
        return self._specs[name]

    def get(self, name: str) -> TaskSpec | None:
        return self._specs.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def specs(self) -> list[TaskSpec]:
        return list(self._specs.values())

    @property
    def by_name(self) -> dict[str, TaskSpec]:
        """The live name -> spec map (read only, by convention)."""
        return self._specs

    def dependencies(self) -> dict[str, tuple[str, ...]]:
        """Each task's dependencies, in topological order of the tasks."""
        return {name: self._specs[name].deps for name in self.topological()}

    def dependents(self) -> dict[str, list[str]]:
        """Each task's direct dependents (known tasks only), in registration order."""
        children: dict[str, list[str]] = {name: [] for name in self._specs}
        for spec in self._specs.values():
            for dep in spec.deps:
                if dep in children:
                    children[dep].append(spec.name)
        return children

    def topological(self) -> list[str]:
        """Task names, every task after its dependencies; ties in registration order. Unknown dependencies
        are ignored; tasks on a cycle come last, in registration order."""
        specs = self._specs
        waiting = {
            name: sum(dep in specs for dep in dict.fromkeys(spec.deps)) for name, spec in specs.items()
        }
        children = self.dependents()
        ready = deque(name for name, count in waiting.items() if count == 0)
        order: list[str] = []
        while ready:
            name = ready.popleft()
            order.append(name)
            for child in dict.fromkeys(children[name]):
                waiting[child] -= 1
                if waiting[child] == 0:
                    ready.append(child)
        if len(order) < len(specs):
            placed = set(order)
            order.extend(name for name in specs if name not in placed)
        return order

    def ancestors(self, names: Iterable[str]) -> set[str]:
        """``names`` and every task they depend on, transitively."""
        return self._closure(names, lambda name: self._specs[name].deps if name in self._specs else ())

    def descendants(self, names: Iterable[str]) -> set[str]:
        """``names`` and every task that depends on them, transitively."""
        children = self.dependents()
        return self._closure(names, lambda name: children.get(name, ()))

    @staticmethod
    def _closure(names: Iterable[str], step: Callable[[str], Iterable[str]]) -> set[str]:
        seen: set[str] = set()
        todo = list(names)
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(step(name))
        return seen

    def subset(self, names: Iterable[str]) -> TaskRegistry:
        """A registry of the named tasks only (same specs, registration order kept)."""
        keep = set(names)
        return TaskRegistry(spec for name, spec in self._specs.items() if name in keep)

    def find_cycle(self) -> list[str] | None:
        """One dependency cycle as a path ``[a, b, ..., a]``, or ``None``."""
        specs = self._specs
        state: dict[str, int] = {}  # 1: on the current path, 2: done
        for root in specs:
            if root in state:
                continue
            path: list[str] = []
            stack: list[tuple[str, Iterator[str]]] = [(root, iter(specs[root].deps))]
            state[root] = 1
            path.append(root)
            while stack:
                name, deps = stack[-1]
                dep = next((d for d in deps if d in specs and state.get(d) != 2), None)
                if dep is None:
                    stack.pop()
                    path.pop()
                    state[name] = 2
                elif state.get(dep) == 1:
                    return [*path[path.index(dep) :], dep]
                else:
                    state[dep] = 1
                    path.append(dep)
                    stack.append((dep, iter(specs[dep].deps)))
        return None
