"""The panel: server-rendered pages under ``/app``, static files under ``/static``."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles


def install_panel(app: FastAPI) -> None:
    """Mount the panel's routes and its vendored static files on ``app``."""
    from zapgate.web.views import router

    app.include_router(router, include_in_schema=False)
    static_dir = resources.files("zapgate.web").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")
