"""``NodeRegistry``: executors by node type. Built-ins are registered in one place, ``default()``;
third-party node types come through ``register`` or the ``flowloom.nodes`` entry-point group."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from flowloom.engine import NodeExecutor

logger = logging.getLogger("flowloom.nodes")

ENTRY_POINT_GROUP = "flowloom.nodes"


class NodeRegistry:
    def __init__(self) -> None:
        self._executors: dict[str, NodeExecutor] = {}
        self._entry_points_pending = False

    @classmethod
    def default(cls, *, load_entry_points: bool = True) -> NodeRegistry:
        """The built-in node types, plus those installed packages declare as entry points. The entry
        points are read on first need (a node type that is not built in, a listing, a ``register``), so a
        process that runs only built-in node types never scans the installed packages."""
        from .blocks import BlockEndExecutor, BlockStartExecutor, BreakExecutor, ContinueExecutor
        from .code import CodeExecutor
        from .condition import ConditionExecutor
        from .end import EndExecutor
        from .http import HttpExecutor
        from .llm import LLMExecutor
        from .loop import LoopExecutor
        from .start import StartExecutor

        registry = cls()
        for executor in (
            StartExecutor(),
            EndExecutor(),
            ConditionExecutor(),
            LoopExecutor(),
            BlockStartExecutor(),
            BlockEndExecutor(),
            BreakExecutor(),
            ContinueExecutor(),
            CodeExecutor(),
            HttpExecutor(),
            LLMExecutor(),
        ):
            registry.register(executor)
        registry._entry_points_pending = load_entry_points
        return registry

    def register(self, executor: NodeExecutor, *, replace: bool = False) -> None:
        node_type = getattr(executor, "type", None)
        if not isinstance(node_type, str) or not node_type:
            raise TypeError(f"{type(executor).__name__} has no node type: set a class attribute `type`")
        if not callable(getattr(executor, "execute", None)):
            raise TypeError(f"{type(executor).__name__} has no async `execute(ctx)` method")
        self._settle_entry_points()  # a clash with an installed node type is reported here, as before
        if node_type in self._executors and not replace:
            raise ValueError(f'node type "{node_type}" is already registered; pass replace=True to override')
        self._executors[node_type] = executor

    def load_entry_points(self) -> None:
        """Register the node types installed packages declare in the ``flowloom.nodes`` group. One that
        cannot be loaded (or clashes with a registered type) is logged and left out."""
        from importlib.metadata import entry_points  # scans every installed package: only when needed

        self._entry_points_pending = False
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            try:
                loaded = entry.load()
                self.register(loaded() if isinstance(loaded, type) else loaded)
            except Exception:
                logger.exception("could not load node type from entry point %r", entry.value)

    def _settle_entry_points(self) -> None:
        if self._entry_points_pending:
            self.load_entry_points()

    def get(self, node_type: str) -> NodeExecutor | None:
        executor = self._executors.get(node_type)
        if executor is None and self._entry_points_pending:
            self.load_entry_points()
            executor = self._executors.get(node_type)
        return executor

    def __contains__(self, node_type: object) -> bool:
        return isinstance(node_type, str) and self.get(node_type) is not None

    def __iter__(self) -> Iterator[NodeExecutor]:
        self._settle_entry_points()
        return iter(sorted(self._executors.values(), key=lambda e: e.type))

    def __len__(self) -> int:
        self._settle_entry_points()
        return len(self._executors)
