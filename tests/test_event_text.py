"""The ledger's event text: ``event_text`` and the engine's prepared ``NodeEventTexts`` give exactly the
text of encoding ``event_json`` (what every reader of the ledger decodes), for every event type and awkward
values."""

from __future__ import annotations

import json
import math

import pytest

from flowloom.ir import (
    UNDEFINED,
    UNSERIALIZABLE,
    Event,
    LLMDelta,
    NodeCanceled,
    NodeEventTexts,
    NodeFailed,
    NodeLog,
    NodeProgress,
    NodeRetrying,
    NodeSkipped,
    NodeStarted,
    NodeSucceeded,
    RawJson,
    RunFinished,
    RunStarted,
    SkipReason,
    Status,
    event_json,
    event_text,
    json_text,
)

RUN = 'run "1" ✓'
NODE = {"run_id": RUN, "node_id": 'n\\1 "é"', "node_type": "code\n", "scope": (2, 0)}
EVENTS: list[Event] = [
    RunStarted(run_id=RUN, at=1.0, inputs={"x": 2.0, "u": UNDEFINED, "l": [1.5, UNDEFINED, {"k": "v"}]}),
    RunFinished(run_id=RUN, at=1.25, status=Status.FAILED, outputs={}, error="boom ✗"),
    RunFinished(run_id=RUN, at=1e22, status=Status.SUCCEEDED, outputs={"set": {1}}),
    NodeStarted(at=1700000000.5, attempt=3, **NODE),
    NodeSucceeded(at=1700000000.0, duration_s=0.0, branch="if_0", cached=True, **NODE),
    NodeSucceeded(at=2.5, duration_s=1e-7, **{**NODE, "scope": ()}),
    NodeFailed(at=3.0, error="Bad\tthing", duration_s=12.0, attempt=2, **NODE),
    NodeRetrying(at=3.5, error="x", attempt=1, delay_s=0.25, **NODE),
    NodeSkipped(at=4.0, reason=SkipReason.UPSTREAM_FAILED, **NODE),
    NodeCanceled(at=4.5, **NODE),
    NodeLog(at=5.0, stream="stdout", line="\x00 line \u2028", **NODE),
    NodeProgress(at=5.5, done=1.0, total=None, message=None, **NODE),
    LLMDelta(at=6.0, text="tok", **NODE),
    NodeFailed(at=math.inf, error="", duration_s=math.nan, **NODE),
    NodeFailed(at=1e20, error="", duration_s=-0.0, **NODE),
    NodeFailed(at=-math.inf, error="", duration_s=1e16 + 2, **NODE),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda event: type(event).__name__)
def test_event_text_is_the_encoded_event_json(event: Event) -> None:
    text = event_text(event)
    assert type(text) is RawJson
    assert text == json_text(event_json(event))


def test_raw_json_is_written_as_it_is() -> None:
    assert json_text(RawJson('{"a":1}')) == '{"a":1}'
    assert json_text('{"a":1}') == '"{\\"a\\":1}"'  # a plain string is a JSON string
    assert json.loads(json_text({"s": {1, 2}})) == {"s": {UNSERIALIZABLE: "set"}}


@pytest.mark.parametrize("scope", [(), (0,), (3, 1, 4)])
@pytest.mark.parametrize("at", [1700000000.0, 1700000000.123456, 0.5])
def test_prepared_node_texts_match_the_events(scope: tuple[int, ...], at: float) -> None:
    texts = NodeEventTexts(RUN)
    fields = {**NODE, "scope": scope}
    started = NodeStarted(at=at, **fields)
    assert texts.started(fields["node_id"], fields["node_type"], scope, at, 1) == event_text(started)
    for branch, cached in ((None, False), ('else "x"', True)):
        succeeded = NodeSucceeded(at=at, duration_s=at - 0.5, branch=branch, cached=cached, **fields)
        text = texts.succeeded(fields["node_id"], fields["node_type"], scope, at, at - 0.5, branch, cached)
        assert text == event_text(succeeded)
