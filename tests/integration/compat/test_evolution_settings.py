"""ZAPGATE_EVOLUTION_ENABLED=false turns the layer off."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login, running_server
from tests.integration.compat.helpers import org_key
from zapgate.config import Settings
from zapgate.util.clock import ManualClock


async def test_disabled_layer_is_not_served(
    settings_factory: Callable[..., Settings], clock: ManualClock
) -> None:
    async with running_server(settings_factory(evolution_enabled=False), clock) as server:
        http: httpx.AsyncClient = server.http
        admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
        key = await org_key(http, admin)
        answer = await http.get("/evolution/instance/fetchInstances", headers={"apikey": key})
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "not_found"
