"""Incoming group messages say who wrote them: in the API and in the panel's bubble."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Server, eventually
from tests.integration.api.helpers import API
from tests.integration.messaging.kit import ready_connection, simulator
from tests.integration.web.panel import Panel
from zapgate.util.clock import ManualClock

ANA = "5511977770001"


@pytest.fixture
async def panel(client: httpx.AsyncClient) -> Panel:
    p = Panel(client)
    await p.login()
    return p


async def test_group_messages_carry_their_sender(
    server: Server, admin: dict[str, str], panel: Panel, clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    sim = simulator(server)
    await sim.incoming(cid, from_phone=ANA, text="oi grupo", push_name="Ana", group="Família")
    await sim.incoming(cid, from_phone=ANA, text="oi só você", push_name="Ana")

    async def both() -> bool:
        return len((await server.http.get(f"{API}/chats", headers=admin)).json()["items"]) == 2

    await eventually(both, what="both chats stored")
    chats = (await server.http.get(f"{API}/chats", headers=admin)).json()["items"]
    group = next(c for c in chats if c["is_group"])
    direct = next(c for c in chats if not c["is_group"])
    in_group = await server.http.get(f"{API}/chats/{group['id']}/messages", headers=admin)
    sender = in_group.json()["items"][0]["sender"]
    assert (sender["phone"], sender["name"]) == (ANA, "Ana")
    assert sender["jid"] == f"{ANA}@s.whatsapp.net"
    assert sender["lid"].endswith("@lid")
    one_to_one = await server.http.get(f"{API}/chats/{direct['id']}/messages", headers=admin)
    assert one_to_one.json()["items"][0]["sender"] is None

    page = await panel.get(f"/app/inbox/{group['id']}")
    assert (
        'data-testid="bubble-sender">Ana <span class="phone">+55 11 97777-0001</span>' in page.text
    )
    page = await panel.get(f"/app/inbox/{direct['id']}")
    assert "bubble-sender" not in page.text
