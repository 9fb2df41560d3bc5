"""Local HTTP servers for tests of flowloom and of code built on it.

``HttpEchoServer`` and ``OpenAIMockServer`` implement the ``http-echo`` and ``llm-mock`` contracts of the
flowgram conformance corpus; ``ZypiMockServer`` the ``zypi-mock`` contract of the flowengine corpus. Each
is an async context manager serving HTTP/1.1 on 127.0.0.1 on a free port::

    async with HttpEchoServer() as echo, OpenAIMockServer() as llm:
        echo.base_url          # "http://127.0.0.1:<port>"
        f"{llm.base_url}/v1"   # an OpenAI client's base URL
"""

from __future__ import annotations

from ._http_echo import EchoedRequest, HttpEchoServer
from ._llm_mock import OpenAIMockServer
from ._zypi import ZypiMockServer

__all__ = ["EchoedRequest", "HttpEchoServer", "OpenAIMockServer", "ZypiMockServer"]
