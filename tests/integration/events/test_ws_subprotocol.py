"""The WebSocket's token in ``Sec-WebSocket-Protocol`` instead of the URL."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, eventually, login
from tests.integration.api.helpers import API, create_connection
from tests.integration.servers import live_app
from zapgate.config import Settings
from zapgate.util.clock import ManualClock

BEARER = Subprotocol("zapgate.bearer")


async def test_the_token_may_come_as_a_subprotocol(settings: Settings, clock: ManualClock) -> None:
    async with (
        live_app(settings, clock) as live,
        httpx.AsyncClient(base_url=live.base, timeout=10) as http,
    ):
        admin = await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
        token = admin["Authorization"].split(" ", 1)[1]
        url = f"{live.ws_base}{API}/events/ws"
        async with connect(url, subprotocols=[BEARER, Subprotocol(token)]) as ws:
            assert ws.subprotocol == BEARER
            assert ws.response is not None
            assert ws.response.headers["Sec-WebSocket-Protocol"] == BEARER

            async def subscribed() -> bool:
                return bool(live.runtime.streams.active == 1)

            await eventually(subscribed, what="the stream subscribed")
            created = await create_connection(http, admin, "Shop")
            event = json.loads(await ws.recv())
            assert (event["type"], event["connection_id"]) == ("connection.created", created["id"])
        # A wrong or missing token is refused with the close code, after a handshake a
        # browser accepts (it fails one that names none of the subprotocols it offered).
        for offered, reason in [
            ([BEARER, Subprotocol("zg_wrong")], "invalid_api_key: "),
            ([BEARER], "unauthenticated: "),
        ]:
            async with connect(url, subprotocols=offered) as ws:
                assert ws.subprotocol == BEARER
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
                assert ws.close_code == 4001
                assert ws.close_reason.startswith(reason), ws.close_reason
