"""Incoming calls through the API on the simulator: a call row in the caller's chat, a
call.received event, and with reject_calls the call refused and the reply sent."""

from __future__ import annotations

from typing import Any

from tests.conftest import Server, eventually
from tests.integration.api.helpers import API
from tests.integration.messaging.kit import drive, ready_connection, simulator
from zapgate.util.clock import ManualClock

ANA = "5511977770001"


async def call(server: Server, h: dict[str, str], cid: str, **body: Any) -> dict[str, Any]:
    response = await server.http.post(
        f"{API}/simulator/connections/{cid}/call", headers=h, json={"from": ANA, **body}
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def call_events(server: Server, h: dict[str, str]) -> list[dict[str, Any]]:
    response = await server.http.get(f"{API}/events", headers=h, params={"types": "call.received"})
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def chat_messages(server: Server, h: dict[str, str]) -> list[dict[str, Any]]:
    chats = (await server.http.get(f"{API}/chats", headers=h)).json()["items"]
    assert len(chats) == 1
    items = await server.http.get(f"{API}/chats/{chats[0]['id']}/messages", headers=h)
    messages: list[dict[str, Any]] = items.json()["items"]
    return messages


async def test_a_missed_call_is_a_call_row_and_an_event(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    answer = await call(server, admin, cid, is_video=True)
    assert answer["rejected"] is False

    async def reported() -> bool:
        return len(await call_events(server, admin)) == 1

    await eventually(reported, what="call.received")
    (event,) = await call_events(server, admin)
    data = event["data"]
    assert data["from"] == {"phone": ANA, "jid": f"{ANA}@s.whatsapp.net", "lid": None}
    assert (data["call_id"], data["is_video"], data["is_group"], data["rejected"]) == (
        answer["call_id"],
        True,
        False,
        False,
    )
    (row,) = await chat_messages(server, admin)
    assert (row["type"], row["direction"], row["id"]) == ("call", "in", data["message_id"])
    assert row["call"] == {"is_video": True, "is_group": False, "rejected": False}
    assert simulator(server).outbox(cid) == []


async def test_reject_calls_refuses_the_call_and_sends_the_reply_through_the_outbox(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    patched = await server.http.patch(
        f"{API}/connections/{cid}",
        headers=admin,
        json={"reject_calls": True, "reject_call_message": "Só atendemos por mensagem"},
    )
    assert patched.status_code == 200, patched.text
    answer = await call(server, admin, cid)
    assert answer["rejected"] is True

    async def replied() -> bool:
        return any(e.text == "Só atendemos por mensagem" for e in simulator(server).outbox(cid))

    await drive(clock, replied, what="the reply sent")
    (sent,) = simulator(server).outbox(cid)
    assert sent.to_jid == f"{ANA}@s.whatsapp.net"
    (event,) = await call_events(server, admin)
    assert event["data"]["rejected"] is True
    messages = await chat_messages(server, admin)
    kinds = sorted((m["type"], m["direction"]) for m in messages)
    assert kinds == [("call", "in"), ("text", "out")]
