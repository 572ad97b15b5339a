"""uvicorn's Server, ending live streams first on shutdown.

uvicorn waits for open requests before it runs the app's shutdown, and a live stream
(the panel's ``/app/events``, the API's SSE) never ends by itself: without this, every
open browser tab would hold a shutdown for the whole graceful timeout.
"""

from __future__ import annotations

import socket

import uvicorn
from fastapi import FastAPI

from zapgate.web.live import closing_signal


def end_live_streams(app: FastAPI) -> None:
    closing_signal(app).set()
    runtime = getattr(app.state, "runtime", None)
    streams = getattr(runtime, "streams", None)
    close = getattr(streams, "close", None)
    if callable(close):
        close()


class PanelServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.panel_app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        end_live_streams(self.panel_app)
        await super().shutdown(sockets)
