"""Engine calls carried to the owner, in one process: two nodes (two runtimes) on one
PostgreSQL, the hop between them an in-process transport. Everything is asked of node
b while node a runs the connection, and answers as if b ran it."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select, update

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, login
from tests.integration.api.helpers import API
from tests.integration.messaging.kit import ready_connection, send, wait_status
from zapgate.domain.events import EventType
from zapgate.domain.ids import new_id
from zapgate.domain.messages import MessageType
from zapgate.engines.events import InboundMessage, MessageReceived, PresenceUpdate
from zapgate.services.presence import PresenceRecorder
from zapgate.store.tables.connections import ConnectionRow
from zapgate.store.tables.events import EventRow
from zapgate.store.tables.messages import MessageRow
from zapgate.util.clock import ManualClock

ANA = "5511977770001"


def _code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def test_engine_calls_asked_of_another_node_run_on_the_owner(
    nodes: tuple[Server, Server],
) -> None:
    a, b = nodes
    clock_a: ManualClock = a.runtime.clock  # type: ignore[assignment]
    ha = await login(a.http, ADMIN_EMAIL, ADMIN_PASSWORD)
    hb = await login(b.http, ADMIN_EMAIL, ADMIN_PASSWORD)
    cid = await ready_connection(a, ha, clock_a)
    assert a.runtime.supervisor.find(cid) is not None
    assert b.runtime.supervisor.find(cid) is None
    hops = b.runtime.connections.commands

    # Number checks (a result of engine dataclasses comes back whole).
    checked = await b.http.post(
        f"{API}/connections/{cid}/check-numbers",
        headers=hb,
        json={"phones": [f"+{ANA}", "+5511977770000"]},
    )
    assert checked.status_code == 200, checked.text
    assert [c["on_whatsapp"] for c in checked.json()] == [True, False]
    assert hops.forwarded >= 1

    # Groups: create (arguments and a GroupInfo), then an engine error keeps its code.
    made = await b.http.post(
        f"{API}/connections/{cid}/groups",
        headers=hb,
        json={"subject": "Clientes", "participants": [f"+{ANA}"]},
    )
    assert made.status_code == 201, made.text
    jid = made.json()["jid"]
    listed = await b.http.get(f"{API}/connections/{cid}/groups", headers=hb)
    assert [g["jid"] for g in listed.json()] == [jid]
    missing = await b.http.get(
        f"{API}/connections/{cid}/groups/120363000000000000@g.us", headers=hb
    )
    assert missing.status_code == 404, missing.text
    assert _code(missing) == "group_not_found"

    # Simulator controls: an incoming message asked of b reaches a's session.
    incoming = await b.http.post(
        f"{API}/simulator/connections/{cid}/incoming",
        headers=hb,
        json={"from": ANA, "text": "oi", "push_name": "Ana"},
    )
    assert incoming.status_code == 200, incoming.text

    async def chat_id() -> str | None:
        items = (await b.http.get(f"{API}/chats", headers=hb)).json()["items"]
        direct = [c for c in items if not c["is_group"]]
        return str(direct[0]["id"]) if direct else None

    chat = None
    for _ in range(500):
        chat = await chat_id()
        if chat:
            break
        await clock_a.advance(0)
    assert chat is not None
    # Read receipts and chat presence go through the owner's session.
    read = await b.http.post(f"{API}/chats/{chat}/read", headers=hb)
    assert read.status_code == 200, read.text
    typing = await b.http.post(
        f"{API}/chats/{chat}/presence", headers=hb, json={"presence": "typing"}
    )
    assert typing.status_code == 204, typing.text
    activity = await b.http.get(f"{API}/simulator/connections/{cid}/activity", headers=hb)
    assert activity.status_code == 200, activity.text
    assert activity.json()["reads"]
    assert activity.json()["presences"]

    # An edit and a revoke of a message a sent.
    sent = await send(b.http, hb, {"connection_id": cid, "to": f"+{ANA}", "text": "olá"})
    await wait_status(a, ha, clock_a, sent["id"], "sent", "delivered", "read")
    edited = await b.http.post(
        f"{API}/messages/{sent['id']}/edit", headers=hb, json={"text": "oi!"}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["text"] == "oi!"
    revoked = await b.http.post(f"{API}/messages/{sent['id']}/revoke", headers=hb)
    assert revoked.status_code == 200, revoked.text

    # Own profile (bytes-free dataclass argument), then block a contact.
    profile = await b.http.patch(
        f"{API}/connections/{cid}/profile", headers=hb, json={"name": "Loja", "status": "aberta"}
    )
    assert profile.status_code == 200, profile.text
    assert a.runtime.supervisor.get(cid).push_name == "Loja"
    contact = (await b.http.get(f"{API}/contacts", headers=hb)).json()["items"][0]["id"]
    blocked = await b.http.post(f"{API}/contacts/{contact}/block", headers=hb)
    assert blocked.status_code == 200, blocked.text
    assert blocked.json()["connections"] == [cid]
    blocked_by: Any = await b.http.get(f"{API}/simulator/connections/{cid}/activity", headers=hb)
    assert blocked_by.json()["blocked"]

    # Stopped on its owner: not ready, answered as on one node (409, not 503).
    stopped = await b.http.post(f"{API}/connections/{cid}/stop", headers=hb)
    assert stopped.status_code == 202, stopped.text
    refused = await b.http.post(
        f"{API}/connections/{cid}/check-numbers", headers=hb, json={"phones": [f"+{ANA}"]}
    )
    assert refused.status_code == 409, refused.text
    assert _code(refused) == "connection_not_ready"
    # The row names node a, which does not run it (it just gave it up): a answers
    # that it runs nothing, b asks again, then answers "moving" (503), never a 500.
    async with b.runtime.db.write() as s:
        row = await s.get(ConnectionRow, cid)
        assert row is not None
        ghost = new_id()
        s.add(
            ConnectionRow(
                id=ghost,
                organization_id=row.organization_id,
                name="ghost",
                state="ready",
                node_id="node-a",
                lease_epoch=1,
                created_at=row.created_at,
                updated_at=row.updated_at,
            )
        )
    moving = await b.http.post(
        f"{API}/connections/{ghost}/check-numbers", headers=hb, json={"phones": [f"+{ANA}"]}
    )
    assert moving.status_code == 503, moving.text
    assert _code(moving) == "connection_moving"
    # Every one of them crossed to node a; none ran a session on b.
    assert hops.forwarded >= 14
    assert b.runtime.supervisor.find(cid) is None


async def test_inbound_traffic_of_a_lost_lease_is_not_written(
    nodes: tuple[Server, Server],
) -> None:
    a, _ = nodes
    clock: ManualClock = a.runtime.clock  # type: ignore[assignment]
    ha = await login(a.http, ADMIN_EMAIL, ADMIN_PASSWORD)
    cid = await ready_connection(a, ha, clock)
    db = a.runtime.db
    async with db.read() as s:
        row = await s.get(ConnectionRow, cid)
        assert row is not None
        org, epoch = row.organization_id, row.lease_epoch
    recorder = a.runtime.messaging.recorder

    def received(wa_id: str) -> MessageReceived:
        jid = f"{ANA}@s.whatsapp.net"
        message = InboundMessage(
            wa_message_id=wa_id,
            chat_jid=jid,
            sender_jid=jid,
            timestamp=clock.now(),
            type=MessageType.TEXT,
            sender_phone=ANA,
            text="oi",
        )
        return MessageReceived(cid, message)

    async def stored(wa_id: str) -> bool:
        async with db.read() as s:
            found = await s.scalar(select(MessageRow.id).where(MessageRow.wa_message_id == wa_id))
            return found is not None

    (presence,) = [p for p in a.runtime.supervisor.listeners if isinstance(p, PresenceRecorder)]

    async def presence_events() -> int:
        async with db.read() as s:
            found = await s.scalars(
                select(EventRow.id).where(EventRow.type == EventType.PRESENCE_UPDATED.value)
            )
            return len(found.all())

    await recorder(org, cid, [received("3AHELD")])
    assert await stored("3AHELD")
    # Node b claimed it (a paused past its lease, say): what a's runner still receives
    # is dropped whole, and so is it once a claims it back at a newer epoch.
    for node, new_epoch in (("node-b", epoch + 1), ("node-a", epoch + 2)):
        async with db.write() as s:
            await s.execute(
                update(ConnectionRow)
                .where(ConnectionRow.id == cid)
                .values(node_id=node, lease_epoch=new_epoch)
            )
        await recorder(org, cid, [received(f"3ALOST{new_epoch}")])
        assert not await stored(f"3ALOST{new_epoch}")
        # The smaller listeners too (contacts' presence here): no event written.
        await presence(org, cid, [PresenceUpdate(cid, f"{ANA}@s.whatsapp.net", True)])
        assert await presence_events() == 0
    assert recorder.fenced == 2
    async with db.write() as s:  # a holds it again at its runner's epoch: written
        await s.execute(
            update(ConnectionRow).where(ConnectionRow.id == cid).values(lease_epoch=epoch)
        )
    await recorder(org, cid, [received("3AAGAIN")])
    assert await stored("3AAGAIN")
    await presence(org, cid, [PresenceUpdate(cid, f"{ANA}@s.whatsapp.net", True)])
    assert await presence_events() == 1
