"""Schema-driven fuzzing of the server (issue 21): schemathesis generates requests from the server's own
OpenAPI document -- valid ones and ones that break it -- and sends them to a real uvicorn on 127.0.0.1.
No answer may be a 500, and none may break the document: undocumented status codes, bodies that do not
match the documented schema, wrong content types.

Bounded: a few dozen examples per operation and generation mode, derandomized (repeatable in CI);
``HYPOTHESIS_FUZZ_EXAMPLES`` raises the count for a longer hunt."""

from __future__ import annotations

import os
from typing import Any

import anyio
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis import checks as st_checks

from _server import live_server

pytestmark = pytest.mark.anyio

EXAMPLES = int(os.environ.get("HYPOTHESIS_FUZZ_EXAMPLES", "40"))
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
    st_checks.response_headers_conformance,
]
# upstream's contract: the report or result of an unknown task (or a task still running) is an empty 200
# body, which the editor polls on; the document describes the JSON a known task gets
EMPTY_WHEN_UNKNOWN = {"GET /api/task/report", "GET /api/task/result"}
# a bundle upload's body is raw zip bytes: random bytes, now and then a zip's magic number first
schemathesis.openapi.media_type(
    "application/zip",
    st.one_of(st.binary(max_size=4096), st.binary(max_size=4096).map(b"PK\x03\x04".__add__)),
)


def fuzz(base_url: str, document: dict[str, Any]) -> tuple[list[str], int]:
    """Every operation in both generation modes: the failures (empty: none), and how many requests were
    sent."""
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    sent = 0
    with requests.Session() as session:
        for found in schema.get_all_operations():
            operation = found.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                strategy = operation.as_strategy(generation_mode=mode)

                @settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    database=None,
                    derandomize=os.environ.get("HYPOTHESIS_FUZZ_RANDOM") is None,
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=strategy)
                def call(case: schemathesis.Case) -> None:
                    nonlocal sent
                    response = case.call(base_url=base_url, session=session, timeout=30)
                    sent += 1
                    if case.operation.label in EMPTY_WHEN_UNKNOWN and response.content == b"":
                        assert response.status_code == 200
                        return
                    case.validate_response(response, checks=CHECKS)

                try:
                    call()
                except Unsatisfiable:  # nothing to generate: a negative case of a route without input
                    pass
                except (AssertionError, BaseExceptionGroup) as failure:  # the first failure hypothesis found
                    failures.append(f"{operation.label} [{mode.value}]: {failure}")
    return failures, sent


async def test_the_server_answers_every_generated_request_by_its_own_document() -> None:
    async with live_server() as server:
        document = server.app.openapi()
        failures, sent = await anyio.to_thread.run_sync(fuzz, server.base_url, document)
    assert failures == [], "\n\n".join(failures)
    assert sent > 10 * EXAMPLES  # every operation was called, most of them many times
