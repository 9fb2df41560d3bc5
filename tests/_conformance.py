"""Locating and loading the recorded flowgram conformance cases, for any test module.

The corpus lives outside the repository. A missing corpus must fail the suite loudly, never skip it:
``case_params()`` then yields a single parameter whose test fails with the reason.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

ENV_VAR = "FLOWLOOM_CONFORMANCE_DIR"
MISSING_ID = "conformance-dir-missing"


class ConformanceDirMissing(FileNotFoundError):
    """The conformance directory (or its ``cases/``) does not exist."""


class MissingCorpus:
    """Stands in for the cases when the corpus is missing; ``unwrap_case`` fails the test with ``reason``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def conformance_dir() -> Path:
    """``$FLOWLOOM_CONFORMANCE_DIR``, else ``<repo>/../shared/conformance/flowgram``; raises if missing."""
    configured = os.environ.get(ENV_VAR)
    default = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "flowgram"
    path = Path(configured) if configured else default
    if not (path / "cases").is_dir():
        source = f"${ENV_VAR}" if configured else f"the default location (set ${ENV_VAR} to override)"
        raise ConformanceDirMissing(f"flowgram conformance cases not found: {path / 'cases'} from {source}")
    return path


def load_cases() -> list[dict[str, Any]]:
    """Every case of ``cases/*.json``, sorted by file name."""
    paths = sorted((conformance_dir() / "cases").glob("*.json"))
    if not paths:
        raise ConformanceDirMissing(f"no cases in {conformance_dir() / 'cases'}")
    return [json.loads(path.read_text(encoding="utf-8")) for path in paths]


def case_params() -> list[Any]:
    """One ``pytest.param`` per case (id = case id), or one that fails when the corpus is missing."""
    try:
        cases = load_cases()
    except ConformanceDirMissing as exc:
        return [pytest.param(MissingCorpus(str(exc)), id=MISSING_ID)]
    return [pytest.param(case, id=case["id"], marks=pytest.mark.conformance) for case in cases]


def unwrap_case(param: dict[str, Any] | MissingCorpus) -> dict[str, Any]:
    """The case of a ``case_params()`` parameter; fails the test if the corpus is missing."""
    if isinstance(param, MissingCorpus):
        pytest.fail(param.reason, pytrace=False)
    return param


def substitute(value: Any, servers: dict[str, str]) -> Any:
    """``value`` with each server placeholder (``{{HTTP_ECHO}}``, ``{{LLM_MOCK}}``) replaced at any depth."""
    if isinstance(value, str):
        for placeholder, url in servers.items():
            value = value.replace(placeholder, url)
        return value
    if isinstance(value, list):
        return [substitute(v, servers) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, servers) for k, v in value.items()}
    return value
