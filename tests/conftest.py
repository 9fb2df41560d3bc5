"""Shared test configuration."""

from __future__ import annotations

import pytest

from _conformance import case_needs

# Services not shipped yet; cases needing them are deselected by name (listed in the summary).
_NOT_YET = {"python-code"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, deselected = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        case = callspec.params.get("case") if callspec is not None else None  # MissingCorpus stays
        if isinstance(case, dict) and case_needs(case) & _NOT_YET:
            deselected.append(item)
        else:
            keep.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = keep
        config.stash[_DESELECTED] = [item.name for item in deselected]


_DESELECTED = pytest.StashKey[list[str]]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    names = config.stash.get(_DESELECTED, [])
    if names:
        terminalreporter.section("conformance cases deselected (they need a service not shipped yet)")
        for name in names:
            terminalreporter.write_line(name)
