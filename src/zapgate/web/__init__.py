"""The panel: server-rendered pages under ``/app``, static files under ``/static``."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles


def install_panel(app: FastAPI) -> None:
    """Mount the panel's routes and its vendored static files on ``app``, and its error
    pages (after the API's error handlers, which it keeps for every other path)."""
    from zapgate.web.routing import install_error_pages
    from zapgate.web.views import router

    app.include_router(router, include_in_schema=False)
    install_error_pages(app)
    static_dir = resources.files("zapgate.web").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")
