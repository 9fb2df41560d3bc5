"""What the server's logs must not show: the ``?token=`` of event-stream URLs (browsers cannot set headers on
EventSource and WebSocket requests, so these carry the API token in the query). uvicorn's access log and
its WebSocket lines print the whole path with its query; ``HiddenTokens`` rewrites it first."""

from __future__ import annotations

import logging
import re
from typing import Any

_TOKEN_PARAM = re.compile(r"(?i)((?:^|[?&;])(?:access_)?token=)[^&;\s\"']*")
UVICORN_LOGGERS = ("uvicorn.access", "uvicorn.error")


def hide_tokens(text: str) -> str:
    """``text`` with the value of every ``token=`` query parameter replaced by ``***``."""
    return _TOKEN_PARAM.sub(r"\1***", text) if "token=" in text.lower() else text


class HiddenTokens(logging.Filter):
    """A log filter that hides ``token=`` values in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = hide_tokens(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_hidden(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _hidden(arg) for key, arg in record.args.items()}
        return True


def _hidden(arg: Any) -> Any:
    return hide_tokens(arg) if isinstance(arg, str) else arg


def hide_tokens_in_server_logs() -> None:
    """Install ``HiddenTokens`` on uvicorn's loggers (once: a logger keeps one filter of this kind)."""
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, HiddenTokens) for existing in logger.filters):
            logger.addFilter(HiddenTokens())
