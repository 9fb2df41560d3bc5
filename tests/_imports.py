"""Every import of every flowloom module, read from its source with ``ast``: at module level, under
``TYPE_CHECKING``, and inside functions, each resolved to the flowloom module it loads."""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import flowloom

SRC = Path(flowloom.__file__).parent


@dataclass(frozen=True, slots=True)
class Import:
    """``importer`` imports ``target`` (a flowloom module) at ``line``; ``names`` are the names it takes from
    it (``from target import a, b``), empty for ``import target``; ``lazy``: inside a function."""

    importer: str
    target: str
    line: int
    names: tuple[str, ...]
    lazy: bool

    def where(self) -> str:
        return f"{self.importer}:{self.line}"


def module_paths() -> dict[str, Path]:
    """Every flowloom module by dotted name (a package by its ``__init__``)."""
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _is_package(module: str, modules: dict[str, Path]) -> bool:
    return modules[module].name == "__init__.py"


def _base(module: str, level: int, modules: dict[str, Path]) -> str:
    """The package a relative import of ``level`` dots starts from."""
    package = module if _is_package(module, modules) else module.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return package


class _Visitor(ast.NodeVisitor):
    def __init__(self, module: str, modules: dict[str, Path]) -> None:
        self.module = module
        self.modules = modules
        self.depth = 0  # functions entered
        self.found: list[Import] = []

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function
    visit_Lambda = _function

    def _add(self, target: str, line: int, names: tuple[str, ...]) -> None:
        if target.split(".")[0] == "flowloom":
            self.found.append(Import(self.module, target, line, names, self.depth > 0))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno, ())

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = _base(self.module, node.level, self.modules)
            source = f"{base}.{node.module}" if node.module else base
        else:
            source = node.module or ""
        plain: list[str] = []
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            if submodule in self.modules:  # `from package import module`
                self._add(submodule, node.lineno, ())
            else:
                plain.append(alias.name)
        if plain:
            self._add(source, node.lineno, tuple(plain))


def imports_of(module: str, modules: dict[str, Path]) -> list[Import]:
    visitor = _Visitor(module, modules)
    visitor.visit(ast.parse(modules[module].read_text(), str(modules[module])))
    return visitor.found


def all_imports() -> Iterator[Import]:
    modules = module_paths()
    for module in modules:
        yield from imports_of(module, modules)


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (``a, b, ..., a``), or None when the graph has none."""
    try:
        graphlib.TopologicalSorter(edges).prepare()
    except graphlib.CycleError as exc:
        cycle: list[str] = exc.args[1]
        return cycle
    return None
