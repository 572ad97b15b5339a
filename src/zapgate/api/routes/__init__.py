"""API routers; ``API_ROUTERS`` are mounted under ``API_PREFIX`` by ``create_app``."""

from __future__ import annotations

from fastapi import APIRouter

from zapgate.api.routes import (
    accounts,
    chats,
    cluster,
    connections,
    contacts,
    events,
    exports,
    groups,
    media,
    messages,
    profiles,
    simulator,
    stats,
    templates,
    webhooks,
)

API_PREFIX = "/api/v1"
API_ROUTERS: tuple[APIRouter, ...] = (
    # Routes are tried in order, and each level of router inclusion costs FastAPI work
    # per request: the busiest path goes first, and all are included at one level.
    messages.router,
    accounts.router,
    connections.router,
    groups.router,
    stats.router,
    simulator.router,
    groups.simulator_router,
    media.router,
    chats.router,
    contacts.router,
    profiles.router,
    templates.router,
    events.router,
    webhooks.router,
    exports.router,
    cluster.router,
)
