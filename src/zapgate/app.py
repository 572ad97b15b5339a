"""``create_app(settings)``: the ASGI application. Nothing is built at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from starlette.types import Receive, Scope, Send

from zapgate import __version__
from zapgate.api.characters import refuse_nul_in_request
from zapgate.api.docs import install_docs
from zapgate.api.errors import install_error_handlers
from zapgate.api.fastlane import SendLane
from zapgate.api.limits import BodyLimitMiddleware
from zapgate.api.openapi import secured_operations, with_errors, with_security
from zapgate.api.routes import API_PREFIX, API_ROUTERS
from zapgate.api.routes.health import router as health_router
from zapgate.api.routes.internal import router as internal_router
from zapgate.api.routes.metrics import router as metrics_router
from zapgate.compat.evolution import evolution_app
from zapgate.config import Settings
from zapgate.runtime import Runtime
from zapgate.util.clock import Clock
from zapgate.web import install_panel

OPENAPI_URL = f"{API_PREFIX}/openapi.json"


class ZapgateApp(FastAPI):
    """FastAPI, with the send fast lane in front of it (``api/fastlane.py``)."""

    lane: SendLane
    secured: set[tuple[str, str]] = set()
    """``(path, method)`` of the operations that authenticate (see ``api/openapi.py``)."""

    def openapi(self) -> dict[str, Any]:
        return with_errors(with_security(super().openapi(), self.secured))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = self.lane.takes(scope)
            if headers is not None:
                await self.lane(scope, receive, send, headers)
                return
        await super().__call__(scope, receive, send)

    async def framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app without the lane: where the lane hands what it does not answer."""
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings, *, clock: Clock | None = None, runtime: Runtime | None = None
) -> FastAPI:
    """Build the app; its lifespan builds, starts and stops the runtime."""

    @asynccontextmanager
    async def lifespan(app: ZapgateApp) -> AsyncIterator[None]:
        rt = runtime or Runtime.build(settings, clock=clock)
        await rt.start()
        app.state.runtime = rt
        app.lane.runtime = rt
        try:
            yield
        finally:
            app.lane.runtime = None
            await rt.stop()

    app = ZapgateApp(
        title="zapgate",
        version=__version__,
        description="Self-hosted, multi-tenant WhatsApp gateway.",
        lifespan=lifespan,
        openapi_url=OPENAPI_URL,
        # Served from the package instead of a CDN (api/docs.py).
        docs_url=None,
        redoc_url=None,
        # Every route, API and panel: a NUL in a query, path or form value is a 422.
        dependencies=[Depends(refuse_nul_in_request)],
    )
    app.lane = SendLane(app.framework, max_body=settings.max_body_bytes)
    install_error_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware,
        default=settings.max_body_bytes,
        media=settings.max_media_bytes,
        # The panel composer uploads attachments under /app/send.
        media_paths=(
            "/api/v1/media",
            "/app/send/",
            *((f"{settings.evolution_prefix}/message/",) if settings.evolution_enabled else ()),
        ),
    )
    # Sending first: the app tries its routes in order (see API_ROUTERS).
    app.include_router(API_ROUTERS[0], prefix=API_PREFIX)
    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(internal_router)
    for router in API_ROUTERS[1:]:
        app.include_router(router, prefix=API_PREFIX)
    app.secured = secured_operations(API_ROUTERS, API_PREFIX)
    install_docs(app, openapi_url=OPENAPI_URL)
    # The panel (pages under /app, assets under /static); see web/.
    install_panel(app)
    if settings.evolution_enabled:
        # Last: with an empty prefix its catch-all answers only what nothing else does.
        evolution = evolution_app(lambda: app.state.runtime)
        if settings.evolution_prefix:
            app.mount(settings.evolution_prefix, evolution)
        else:
            app.mount("", evolution)
    return app
