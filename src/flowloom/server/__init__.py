"""flowloom's HTTP server: upstream flowgram's REST and tRPC API, a runs API and live events.

    app = flowloom.create_app()                         # a FastAPI app; or create_app(engine, settings)
    FlowloomServer(app, host="127.0.0.1", port=4000).run()   # what `flowloom serve` does

Only hosts import this package; ``import flowloom`` never loads it.
"""

from __future__ import annotations

from ._app import FlowloomServer, ServerSettings, create_app

__all__ = ["FlowloomServer", "ServerSettings", "create_app"]
