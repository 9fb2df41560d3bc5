"""The Python SDK programs of ``../shared/conformance/flowengine/sdk/``, each run as its README says (an empty
working directory, ``HTTP_ECHO``/``ZYPI`` from the corpus's reference servers, ``FLOWLOOM_BIN``) with its
stdout compared exactly with its ``.expected``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from _flowengine_cases import corpus_dir, flowloom_command

PROGRAMS = sorted((corpus_dir() / "sdk").glob("*.py"))
NEEDS_SERVER_API = "10_client_server.py"


def _param(program: Path) -> object:
    if program.name == NEEDS_SERVER_API:
        mark = pytest.mark.xfail(strict=True, reason="FlowClient lands with the flowengine REST API")
        return pytest.param(program, id=program.stem, marks=mark)
    return pytest.param(program, id=program.stem)


@pytest.fixture(scope="module")
def server_urls() -> Iterator[dict[str, str]]:
    sys.path.insert(0, str(corpus_dir()))
    from servers import start_servers  # type: ignore[import-not-found]

    echo, zypi = start_servers()
    try:
        yield {"HTTP_ECHO": echo.base_url, "ZYPI": zypi.base_url}
    finally:
        echo.shutdown()
        zypi.shutdown()


def test_the_corpus_has_ten_programs() -> None:
    assert [p.name[:3] for p in PROGRAMS] == [f"{n:02d}_" for n in range(1, 11)]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("program", [_param(p) for p in PROGRAMS])
def test_program_prints_what_is_expected(program: Path, server_urls: dict[str, str], tmp_path: Path) -> None:
    env = {**os.environ, **server_urls, "FLOWLOOM_BIN": flowloom_command()[0]}
    done = subprocess.run(
        [sys.executable, str(program)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    expected = program.with_suffix(".expected").read_text(encoding="utf-8")
    assert (done.stdout, done.returncode) == (expected, 0), done.stderr[-2000:]
