"""The panel's routes, gathered in one router (specific paths before generic ones)."""

from __future__ import annotations

from fastapi import APIRouter

from zapgate.web.views import (
    auth,
    contacts,
    dashboard,
    detail,
    events,
    exports,
    groups,
    inbox,
    linking,
    message_actions,
    profiles,
    settings,
    webhook_log,
    webhooks,
)

router = APIRouter()
for module in (
    auth,
    events,
    message_actions,
    profiles,
    contacts,
    groups,
    inbox,
    linking,
    detail,
    webhook_log,
    webhooks,
    exports,
    settings,
    dashboard,
):
    router.include_router(module.router)
