"""Evolution API v2 compatibility: its routes, fields, shapes and webhook bodies,
translated onto zapgate's services (docs/evolution.md).

``evolution_app`` builds the sub-application ``create_app`` mounts under
``ZAPGATE_EVOLUTION_PREFIX``; ``events.EvolutionFormat`` is the webhook body format the
composition root hands the webhooks pipeline.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from zapgate.services.system import System

from . import chat, groups, hooks, instance, message, numbers, profile, settings
from .errors import install_errors
from .events import EvolutionFormat, evolution_body
from .routes import ROUTES, unsupported_router

__all__ = ["ROUTES", "EvolutionFormat", "evolution_app", "evolution_body"]


def evolution_app(services: Callable[[], System]) -> FastAPI:
    """The layer as an ASGI app; ``services`` gives the running runtime's services."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.services = services
    install_errors(app)
    for module in (instance, message, chat, numbers, profile, groups, hooks, settings):
        app.include_router(module.router)
    app.include_router(unsupported_router())
    return app
