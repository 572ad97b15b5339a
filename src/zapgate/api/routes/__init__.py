"""API routers; ``api_router`` collects those under ``/api/v1``."""

from __future__ import annotations

from fastapi import APIRouter

# Messaging (issue 5)
from zapgate.api.routes import (
    accounts,
    chats,
    connections,
    contacts,
    events,
    media,
    messages,
    simulator,
    stats,
    templates,
    webhooks,
)

api_router = APIRouter()
# FastAPI tries routes in order, one regex each: the busiest path goes first.
api_router.include_router(messages.router)
api_router.include_router(accounts.router)
api_router.include_router(connections.router)
api_router.include_router(stats.router)
api_router.include_router(simulator.router)
for _messaging in (media, chats, contacts, templates):
    api_router.include_router(_messaging.router)
api_router.include_router(events.router)
api_router.include_router(webhooks.router)
