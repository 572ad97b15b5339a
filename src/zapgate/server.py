"""uvicorn's Server, ending live streams first on shutdown.

uvicorn waits for open requests before it runs the app's shutdown, and a live stream
(the panel's ``/app/events``, the API's SSE) never ends by itself: without this, every
open browser tab would hold a shutdown for the whole graceful timeout.
"""

from __future__ import annotations

import socket

import uvicorn
from fastapi import FastAPI

from zapgate.runtime import Runtime


def end_live_streams(app: FastAPI) -> None:
    runtime: Runtime | None = getattr(app.state, "runtime", None)
    if runtime is not None:
        runtime.streams.close()


class PanelServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.panel_app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        end_live_streams(self.panel_app)
        await super().shutdown(sockets)
