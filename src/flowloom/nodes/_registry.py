"""``NodeRegistry``: executors by node type. Built-ins are registered in one place, ``default()``;
third-party node types come through ``register`` or the ``flowloom.nodes`` entry-point group."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from dataclasses import fields

from flowloom.engine import NodeExecutor, Traits, traits_of
from flowloom.ir import FlowgramNodeType

from .automation import BUILTINS as AUTOMATION
from .browser import BUILTINS as BROWSER
from .containers import BUILTINS as CONTAINERS
from .sandboxes import BUILTINS as SANDBOXES

logger = logging.getLogger("flowloom.nodes")

ENTRY_POINT_GROUP = "flowloom.nodes"

# The built-in executors: node type -> (module, class), imported on first use.
_BUILTINS: dict[str, tuple[str, str]] = {
    FlowgramNodeType.START: ("flowloom.nodes.start", "StartExecutor"),
    FlowgramNodeType.END: ("flowloom.nodes.end", "EndExecutor"),
    FlowgramNodeType.CONDITION: ("flowloom.nodes.condition", "ConditionExecutor"),
    FlowgramNodeType.LOOP: ("flowloom.nodes.loop", "LoopExecutor"),
    FlowgramNodeType.BLOCK_START: ("flowloom.nodes.blocks", "BlockStartExecutor"),
    FlowgramNodeType.BLOCK_END: ("flowloom.nodes.blocks", "BlockEndExecutor"),
    FlowgramNodeType.BREAK: ("flowloom.nodes.blocks", "BreakExecutor"),
    FlowgramNodeType.CONTINUE: ("flowloom.nodes.blocks", "ContinueExecutor"),
    FlowgramNodeType.CODE: ("flowloom.nodes.code", "CodeExecutor"),
    FlowgramNodeType.HTTP: ("flowloom.nodes.http", "HttpExecutor"),
    FlowgramNodeType.LLM: ("flowloom.nodes.llm", "LLMExecutor"),
    "wait": ("flowloom.nodes.wait", "WaitExecutor"),  # flowloom's own: a durable wait (see DESIGN)
    **AUTOMATION,  # flowengine's node library
    **BROWSER,  # browser.render: headless Chromium
    **CONTAINERS,  # docker.run: the Docker Engine API
    **SANDBOXES,  # sandbox.exec, zypi.exec, zypi.session_create, api.call
}

# Families of built-in node types sharing a prefix: prefix -> (module, function listing the executors),
# imported when a type of the family is first needed.
_FAMILIES: dict[str, tuple[str, str]] = {"vf.": ("flowloom.nodes.visual", "visual_executors")}


def _import_builtin(module: str, name: str) -> NodeExecutor:
    executor: NodeExecutor = getattr(importlib.import_module(module), name)()
    return executor


_TRAIT_NAMES = tuple(trait.name for trait in fields(Traits))


def _check_traits(executor: NodeExecutor) -> None:
    """A declared ``traits`` must be a ``Traits``; a trait set as a class flag of its own (how executors
    declared traits before ``Traits``) would be ignored, so it is refused with the way to declare it."""
    traits_of(executor)
    cls = type(executor)
    flags = [name for name in _TRAIT_NAMES if any(name in vars(klass) for klass in cls.__mro__)]
    if flags:
        wanted = ", ".join(f"{name}=True" for name in flags)
        raise TypeError(
            f"{cls.__name__} sets {', '.join(flags)} as class attributes, which flowloom does not read: "
            f"declare `traits = flowloom.Traits({wanted})` instead"
        )


class NodeRegistry:
    def __init__(self) -> None:
        self._executors: dict[str, NodeExecutor] = {}
        self._builtins: dict[str, tuple[str, str]] = {}  # not imported yet: node type -> (module, class)
        self._entry_points_pending = False
        self._families: dict[str, tuple[str, str]] = {}

    @classmethod
    def default(cls, *, load_entry_points: bool = True) -> NodeRegistry:
        """The built-in node types, plus those installed packages declare as entry points. A built-in
        executor's module is imported when its type is first needed, and the entry points are read on
        first need (a node type that is not built in, a listing, a ``register``): a process that runs a
        start and an end node neither imports the HTTP, LLM or code nodes nor scans the installed
        packages."""
        registry = cls()
        registry._builtins = dict(_BUILTINS)
        registry._families = dict(_FAMILIES)
        registry._entry_points_pending = load_entry_points
        return registry

    def register(self, executor: NodeExecutor, *, replace: bool = False) -> None:
        node_type = getattr(executor, "type", None)
        if not isinstance(node_type, str) or not node_type:
            raise TypeError(f"{type(executor).__name__} has no node type: set a class attribute `type`")
        if not callable(getattr(executor, "execute", None)):
            raise TypeError(f"{type(executor).__name__} has no async `execute(ctx)` method")
        _check_traits(executor)
        self._settle_entry_points()  # a clash with an installed node type is reported here, as before
        if (node_type in self._executors or node_type in self._builtins) and not replace:
            raise ValueError(f'node type "{node_type}" is already registered; pass replace=True to override')
        self._builtins.pop(node_type, None)
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

    def _settle(self) -> None:
        """Every executor imported: built-ins and entry points."""
        for node_type in list(self._builtins):
            self.get(node_type)
        for prefix in list(self._families):
            self._load_family(prefix)
        self._settle_entry_points()

    def get(self, node_type: str) -> NodeExecutor | None:
        executor = self._executors.get(node_type)
        if executor is None and node_type in self._builtins:
            executor = self._executors[node_type] = _import_builtin(*self._builtins.pop(node_type))
        if executor is None and self._families:
            prefix = next((p for p in self._families if node_type.startswith(p)), None)
            if prefix is not None:
                self._load_family(prefix)
                executor = self._executors.get(node_type)
        if executor is None and self._entry_points_pending:
            self.load_entry_points()
            executor = self._executors.get(node_type)
        return executor

    def _load_family(self, prefix: str) -> None:
        module, name = self._families.pop(prefix)
        for executor in getattr(importlib.import_module(module), name)():
            self._executors.setdefault(executor.type, executor)  # a type registered before wins

    def __contains__(self, node_type: object) -> bool:
        return isinstance(node_type, str) and self.get(node_type) is not None

    def __iter__(self) -> Iterator[NodeExecutor]:
        self._settle()
        return iter(sorted(self._executors.values(), key=lambda e: e.type))

    def __len__(self) -> int:
        self._settle()
        return len(self._executors)
