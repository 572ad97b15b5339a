"""API routers; ``api_router`` collects those under ``/api/v1``."""

from __future__ import annotations

from fastapi import APIRouter

from zapgate.api.routes import accounts, connections, simulator, stats

api_router = APIRouter()
api_router.include_router(accounts.router)
api_router.include_router(connections.router)
api_router.include_router(stats.router)
api_router.include_router(simulator.router)
