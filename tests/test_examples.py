"""The examples run as they are."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_on_a_terminal(argv: list[str]) -> tuple[int, str]:
    """Run ``argv`` with a pseudo-terminal as its stdout (so the CLI shows its live view)."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "200", "TERM": "xterm-256color"}
    with subprocess.Popen(argv, stdout=follower, stderr=subprocess.PIPE, env=env, cwd=ROOT) as process:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the process is done writing
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait(timeout=60)
    os.close(leader)
    return process.returncode, b"".join(chunks).decode("utf-8", errors="replace")


def test_llm_stream_example_streams_tokens_in_the_live_view() -> None:
    code, screen = run_on_a_terminal([sys.executable, str(ROOT / "examples" / "llm_stream.py")])
    assert code == 0, screen
    assert "succeeded" in screen
    # The live view redraws the llm_0 row as tokens arrive: a partial answer is on screen before the whole.
    whole = 'prompt is "Question: Why stream tokens?"'
    assert whole in screen
    assert "Hi, I am an AI" in screen[: screen.index(whole)]
    assert screen.count("llm_0") >= 3


def test_llm_stream_example_without_a_terminal() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "llm_stream.py")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "llm_0                    streaming  Hi, I am an AI model, my name is local-mock" in done.stdout
