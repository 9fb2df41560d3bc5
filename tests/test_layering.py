"""The layers of ``../shared/DESIGN.md`` ("Layers and who may import whom"), checked on every import of every
module (at module level, under ``TYPE_CHECKING`` and inside functions), and no import cycle between
flowloom's modules."""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

import flowloom.engine
from _imports import Import, all_imports, find_cycle, imports_of, module_paths

# The composition root: the facade (``flowloom``) and the modules that wire the layers together. They may
# import every layer; no layer imports them, except hosts, which may use the composition root's modules
# but never the facade (it lazily imports the hosts, so that would be a cycle).
FACADE = "flowloom"
ROOT = "<root>"

# Which flowloom packages each package may import, besides itself (DESIGN.md's table).
MAY_IMPORT: dict[str, frozenset[str]] = {
    "ir": frozenset(),
    "formats": frozenset({"ir"}),
    "bundles": frozenset({"ir", "formats"}),  # a front-door helper: reads bundles, finds subflows
    "engine": frozenset({"ir"}),
    "nodes": frozenset({"ir", "engine"}),  # the engine's executor seam only: EXECUTOR_SEAM
    "stores": frozenset({"ir"}),
    "workers": frozenset({"ir"}),
    "pipeline": frozenset({"ir", "engine", "workers"}),  # its own composition root: makes ThreadWorkers
    # flowengine's Python SDK: a host-level package (it builds engines with its own shell.exec executor)
    "flowengine": frozenset({"ir", "formats", "engine", "nodes", "workers"}),
    "server": frozenset(
        {"ir", "formats", "bundles", "engine", "nodes", "stores", "workers", "pipeline", "flowengine", ROOT}
    ),
    "cli": frozenset(
        {
            "ir",
            "formats",
            "bundles",
            "engine",
            "nodes",
            "stores",
            "workers",
            "pipeline",
            "flowengine",
            "server",
            ROOT,
        }
    ),
    "testing": frozenset({"ir"}),
}

# What node executors may take from ``flowloom.engine``: the seam its docstring describes.
EXECUTOR_SEAM = frozenset(
    {
        "BlockFailed",
        "CodeLimits",
        "ConfigKey",
        "HttpLimits",
        "Iteration",
        "Lazy",
        "NodeContext",
        "NodeError",
        "NodeExecutor",
        "NodeMetadata",
        "NodeResult",
        "NodeTimeout",
        "Resolver",
        "Sandbox",
        "Services",
        "Traits",
        "TypedValue",
        "compile_flow_value",
        "compile_strict_ref",
        "infer_type",
        "same_type",
        "traits_of",
    }
)

# Libraries beside the standard library, for the layers DESIGN.md restricts.
MAY_USE: dict[str, frozenset[str]] = {
    "ir": frozenset({"pydantic", "pydantic_core"}),
    "bundles": frozenset({"packaging"}),  # version order of installed bundles
    "formats": frozenset({"pydantic"}),  # formats build ir's models and report their validation errors
    "testing": frozenset({"anyio", "fastapi", "httpx", "starlette", "uvicorn"}),
}


@dataclass(frozen=True, slots=True)
class Allowed:
    """An import the layers allow although the table does not: only inside a function (lazy), and left
    out of the cycle check."""

    importer: str  # a package, or a module (prefix match)
    target: str  # a package, or a module (prefix match)
    reason: str

    def covers(self, imp: Import) -> bool:
        return imp.lazy and _within(imp.importer, self.importer) and _within(imp.target, self.target)


ALLOWED = (
    Allowed(
        "flowloom.engine._engine",
        "flowloom._defaults",
        "an Engine built without node types, formats or services takes the composition root's defaults, "
        "imported on first need",
    ),
)


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _layer(module: str) -> str:
    """The package of a flowloom module, or ``<root>`` for the facade and the composition root."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in MAY_IMPORT else ROOT


IMPORTS = list(all_imports())


def test_every_package_is_in_the_table() -> None:
    packages = {module.split(".")[1] for module in module_paths() if module.count(".") >= 1}
    unlisted = {name for name in packages if not name.startswith("_")} - set(MAY_IMPORT)
    assert unlisted == set(), f"packages missing from DESIGN.md's table and MAY_IMPORT: {sorted(unlisted)}"


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_package_imports_only_what_the_design_allows(package: str) -> None:
    wrong = [
        f"{imp.where()} imports {imp.target}"
        for imp in IMPORTS
        if _layer(imp.importer) == package
        and _layer(imp.target) != package
        and _layer(imp.target) not in MAY_IMPORT[package]
        and not any(allowed.covers(imp) for allowed in ALLOWED)
    ]
    assert wrong == [], f"{package} may import {sorted(MAY_IMPORT[package]) or 'no other layer'}"


def test_no_layer_imports_the_composition_root() -> None:
    wrong = [
        f"{imp.where()} imports {imp.target}"
        for imp in IMPORTS
        if _layer(imp.importer) not in (ROOT, "server", "cli")
        and _layer(imp.target) == ROOT
        and not any(allowed.covers(imp) for allowed in ALLOWED)
    ]
    assert wrong == []


def test_no_module_imports_the_facade() -> None:
    wrong = [f"{imp.where()}" for imp in IMPORTS if imp.target == FACADE and imp.importer != FACADE]
    assert wrong == [], "import from the defining module, not from the flowloom facade"


def test_nodes_use_only_the_engines_executor_seam() -> None:
    wrong = [
        f"{imp.where()} imports {name} from {imp.target}"
        for imp in IMPORTS
        if _layer(imp.importer) == "nodes" and _within(imp.target, "flowloom.engine")
        for name in (imp.names or ("(the module)",))
        if imp.target != "flowloom.engine" or name not in EXECUTOR_SEAM
    ]
    assert wrong == []


def test_the_executor_seam_is_public() -> None:
    assert sorted(EXECUTOR_SEAM - set(flowloom.engine.__all__)) == []


@pytest.mark.parametrize("package", sorted(MAY_USE))
def test_package_uses_only_the_libraries_the_design_allows(package: str) -> None:
    wrong = []
    for module, path in module_paths().items():
        if _layer(module) != package:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top != "flowloom" and top not in sys.stdlib_module_names and top not in MAY_USE[package]:
                    wrong.append(f"{module}:{node.lineno} imports {name}")
    assert wrong == []


def test_no_import_cycle_between_modules() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for imp in IMPORTS:
        if imp.target != imp.importer and not any(allowed.covers(imp) for allowed in ALLOWED):
            edges[imp.importer].add(imp.target)
    cycle = find_cycle(edges)
    # graphlib lists each module before the module that imports it: reversed, each imports the next.
    assert cycle is None, "import cycle: " + " -> ".join(reversed(cycle or []))


def test_the_checker_sees_every_kind_of_import(tmp_path: Path) -> None:
    package = tmp_path / "flowloom" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sibling.py").write_text("")
    (package / "mod.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "import flowloom.ir\n"
        "from . import sibling\n"
        "from .sibling import name\n"
        "if TYPE_CHECKING:\n"
        "    from flowloom.engine._scheduler import RunDriver\n"
        "def later():\n"
        "    from ..nodes import NodeRegistry\n"
    )
    modules = {
        "flowloom.pkg": package / "__init__.py",
        "flowloom.pkg.mod": package / "mod.py",
        "flowloom.pkg.sibling": package / "sibling.py",
    }
    found = {(imp.target, imp.names, imp.lazy) for imp in imports_of("flowloom.pkg.mod", modules)}
    assert found == {
        ("flowloom.ir", (), False),
        ("flowloom.pkg.sibling", (), False),
        ("flowloom.pkg.sibling", ("name",), False),
        ("flowloom.engine._scheduler", ("RunDriver",), False),
        ("flowloom.nodes", ("NodeRegistry",), True),
    }


def test_a_cycle_is_found_and_named() -> None:
    cycle = find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert cycle is not None and set(cycle) == {"a", "b", "c"} and cycle[0] == cycle[-1]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "d": {"a", "c"}}) is None
