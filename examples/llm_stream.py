"""Stream an LLM answer in the CLI's live view, against the local OpenAI-compatible server.

    uv run python examples/llm_stream.py

Starts ``flowloom.testing.OpenAIMockServer`` (tokens paced so the stream is visible), then runs
``flowloom run examples/llm_stream.json`` pointed at it. On a terminal the live view's row for ``llm_0``
fills in token by token; elsewhere the tokens are written on one line as they arrive.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio

from flowloom.testing import OpenAIMockServer

HERE = Path(__file__).resolve().parent
FLOWLOOM = Path(sys.executable).parent / "flowloom"


async def main() -> int:
    async with OpenAIMockServer(chunk_delay_s=0.03) as llm:
        inputs = {"question": "Why stream tokens?", "apiHost": f"{llm.base_url}/v1"}
        command = [str(FLOWLOOM), "run", str(HERE / "llm_stream.json"), "--inputs", json.dumps(inputs)]
        done = await anyio.run_process(command, stdout=None, stderr=None, check=False)
        return done.returncode


if __name__ == "__main__":
    sys.exit(anyio.run(main))
