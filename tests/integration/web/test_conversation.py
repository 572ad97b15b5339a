"""A conversation with messages that carry no media (a place, a contact card, a lone
reaction) renders in every view that shows messages (the browser test checks the looks)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Server, eventually
from tests.integration.api.helpers import API, create_connection, link
from tests.integration.web.panel import Panel, untranslated
from zapgate.util.clock import ManualClock

CUSTOMER = "5511977776666"


@pytest.fixture
async def panel(client: httpx.AsyncClient) -> Panel:
    p = Panel(client)
    await p.login()
    return p


async def test_places_contacts_and_reactions_render(
    server: Server, admin: dict[str, str], panel: Panel, clock: ManualClock
) -> None:
    http = server.http
    conn = await create_connection(http, admin, "Loja")
    await link(http, admin, conn["id"], clock)
    received: list[dict[str, Any]] = [
        {"location": {"latitude": -23.5613, "longitude": -46.6565, "name": "MASP"}},
        {"location": {"latitude": -22.9519, "longitude": -43.2105}},
        {"contact": {"name": "Bia <b>Souza</b>", "phone": "5511900001111"}},
        {"reaction": {"message_id": "3EB0NOTSTORED", "emoji": "🎉"}},
    ]
    for body in received:
        sent = await http.post(
            f"{API}/simulator/connections/{conn['id']}/incoming",
            headers=admin,
            json={"from": CUSTOMER, **body},
        )
        assert sent.status_code == 200, sent.text
    sent_out: list[dict[str, Any]] = [
        {"type": "location", "location": {"latitude": 1.5, "longitude": 2.5}},
        {"type": "contact", "contact": {"name": "Rui", "phone": "+55 11 3333-4444"}},
    ]
    for body in sent_out:
        queued = await http.post(f"{API}/messages", headers=admin, json={"to": CUSTOMER, **body})
        assert queued.status_code == 202, queued.text
    chats: list[dict[str, str]] = []

    async def all_stored() -> bool:
        chats[:] = (await http.get(f"{API}/chats", headers=admin)).json()["items"]
        if not chats:
            return False
        page = await http.get(f"{API}/chats/{chats[0]['id']}/messages", headers=admin)
        return len(page.json()["items"]) == 6

    await eventually(all_stored, what="the conversation stored")
    chat_id = chats[0]["id"]
    newest = (await http.get(f"{API}/chats/{chat_id}/messages", headers=admin)).json()["items"]
    for path in (
        f"/app/inbox/{chat_id}",
        f"/app/inbox/{chat_id}/messages",
        f"/app/inbox/{chat_id}/messages/older?before={newest[0]['id']}",
    ):
        page = await panel.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        assert untranslated(page.text) == [], path
    page = await panel.get(f"/app/inbox/{chat_id}")
    assert "https://www.openstreetmap.org/?mlat=-23.5613&amp;mlon=-46.6565" in page.text
    assert ">MASP</a>" in page.text
    assert ">-22.9519, -43.2105</a>" in page.text
    assert "Bia &lt;b&gt;Souza&lt;/b&gt;" in page.text
    assert '<a href="tel:+5511900001111">+55 11 90000-1111</a>' in page.text
    assert '<a href="tel:+551133334444">+55 11 3333-4444</a>' in page.text
    assert "🎉" in page.text
