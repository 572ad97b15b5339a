"""Agents see the chats assigned to them and the unassigned ones, and those chats' messages."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import Server, eventually, login
from tests.integration.api.helpers import API
from tests.integration.messaging.kit import CUSTOMER, ready_connection, send, simulator
from zapgate.util.clock import ManualClock

OTHER = "5511977776666"


async def _user(server: Server, admin: dict[str, str], email: str, role: str) -> str:
    password = f"{role}-pass-123"
    created = await server.http.post(
        f"{API}/users", headers=admin, json={"email": email, "password": password, "role": role}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _chat_ids(server: Server, headers: dict[str, str]) -> set[str]:
    body = (await server.http.get(f"{API}/chats", headers=headers)).json()
    return {c["id"] for c in body["items"]}


async def test_an_agent_cannot_reach_another_agents_chat_or_its_messages(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    ana_id = await _user(server, admin, "ana@example.com", "agent")
    await _user(server, admin, "bia@example.com", "agent")
    await _user(server, admin, "max@example.com", "manager")
    ana = await login(server.http, "ana@example.com", "agent-pass-123")
    bia = await login(server.http, "bia@example.com", "agent-pass-123")
    manager = await login(server.http, "max@example.com", "manager-pass-123")

    cid = await ready_connection(server, admin, clock)
    sim = simulator(server)
    await sim.incoming(cid, from_phone=CUSTOMER, text="for ana")
    await sim.incoming(cid, from_phone=OTHER, text="for anyone")

    async def two_chats() -> bool:
        return len(await _chat_ids(server, admin)) == 2

    await eventually(two_chats, what="both chats stored")
    chats = (await server.http.get(f"{API}/chats", headers=admin)).json()["items"]
    by_jid = {c["jid"]: c["id"] for c in chats}
    anas, open_chat = by_jid[f"{CUSTOMER}@s.whatsapp.net"], by_jid[f"{OTHER}@s.whatsapp.net"]
    assigned = await server.http.patch(
        f"{API}/chats/{anas}", headers=admin, json={"assignee_id": ana_id}
    )
    assert assigned.status_code == 200, assigned.text
    later = (clock.now() + timedelta(hours=1)).isoformat()
    scheduled = await send(
        server.http, admin, {"to": CUSTOMER, "type": "text", "text": "later", "send_at": later}
    )
    assert scheduled["chat_id"] == anas

    assert await _chat_ids(server, bia) == {open_chat}
    assert await _chat_ids(server, ana) == {anas, open_chat}
    assert await _chat_ids(server, manager) == {anas, open_chat}
    for method, path, body, code in [
        ("GET", f"/chats/{anas}", None, "chat_not_found"),
        ("GET", f"/chats/{anas}/messages", None, "chat_not_found"),
        ("PATCH", f"/chats/{anas}", {"status": "active"}, "chat_not_found"),
        ("POST", f"/chats/{anas}/read", None, "chat_not_found"),
        ("GET", f"/messages/{scheduled['id']}", None, "message_not_found"),
        ("POST", f"/messages/{scheduled['id']}/cancel", None, "message_not_found"),
    ]:
        response = await server.http.request(method, f"{API}{path}", headers=bia, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["code"] == code, (method, path, response.text)

    # Nor write into it: a message, a reply or a reaction there is refused.
    for body in (
        {"to": CUSTOMER, "text": "hi"},
        {"to": CUSTOMER, "text": "re", "reply_to": scheduled["id"]},
        {
            "to": CUSTOMER,
            "type": "reaction",
            "reaction": {"message_id": scheduled["id"], "emoji": "👍"},
        },
        {"to": CUSTOMER, "text": "hi", "connection_id": cid},
    ):
        refused = await server.http.post(f"{API}/messages", headers=bia, json=body)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "chat_assigned_elsewhere"

    seen = await server.http.get(f"{API}/messages/{scheduled['id']}", headers=ana)
    assert seen.status_code == 200, seen.text
    canceled = await server.http.post(f"{API}/messages/{scheduled['id']}/cancel", headers=ana)
    assert canceled.json()["status"] == "canceled"
    chat = (await server.http.get(f"{API}/chats/{anas}", headers=ana)).json()
    assert chat["last_message"]["status"] == "canceled"
    mine = await send(server.http, ana, {"to": CUSTOMER, "text": "from ana"})
    assert mine["chat_id"] == anas
    unassigned = await send(server.http, bia, {"to": OTHER, "text": "from bia"})
    assert unassigned["chat_id"] == open_chat
    page = await server.http.get(f"{API}/chats/{open_chat}/messages", headers=bia)
    assert {m["text"] for m in page.json()["items"]} == {"for anyone", "from bia"}
