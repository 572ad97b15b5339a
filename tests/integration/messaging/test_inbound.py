"""Incoming messages: stored once, contacts and chats kept, media stored at receipt."""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import select

from tests.conftest import Server, eventually
from tests.integration.api.helpers import API, status_of, wait_state
from tests.integration.messaging.kit import CUSTOMER, drive, ready_connection, simulator
from zapgate.store.tables.events import EventRow
from zapgate.util.clock import ManualClock


async def incoming(server: Server, headers: dict[str, str], cid: str, **body: Any) -> str:
    response = await server.http.post(
        f"{API}/simulator/connections/{cid}/incoming",
        headers=headers,
        json={"from": CUSTOMER, **body},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["wa_message_id"])


async def chat_messages(server: Server, headers: dict[str, str]) -> list[dict[str, Any]]:
    chats = (await server.http.get(f"{API}/chats", headers=headers)).json()["items"]
    out: list[dict[str, Any]] = []
    for chat in chats:
        page = await server.http.get(f"{API}/chats/{chat['id']}/messages", headers=headers)
        out.extend(page.json()["items"])
    return out


async def test_every_incoming_type_is_stored(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    files = {
        "image": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "image/png"),
        "video": (b"\0\0\0\x18ftypmp42" + b"v" * 300, "video/mp4"),
        "audio": (b"ID3" + b"a" * 100, "audio/mpeg"),
        "voice": (b"OggS" + b"o" * 100, "audio/ogg"),
        "document": (b"%PDF-1.7" + b"d" * 100, "application/pdf"),
    }
    ids = {"text": await incoming(server, admin, cid, text="<script>oi</script>", push_name="Ana")}
    for kind, (data, mimetype) in files.items():
        ids[kind] = await incoming(
            server,
            admin,
            cid,
            type=kind,
            caption=f"a {kind}",
            media={
                "base64": base64.b64encode(data).decode(),
                "mimetype": mimetype,
                "filename": f"file.{kind}",
            },
        )
    ids["location"] = await incoming(
        server, admin, cid, location={"latitude": 1.5, "longitude": 2.5, "name": "Praça"}
    )
    ids["contact"] = await incoming(
        server, admin, cid, contact={"name": "Bia", "phone": "5511900001111"}
    )
    ids["reaction"] = await incoming(
        server, admin, cid, reaction={"message_id": ids["text"], "emoji": "❤"}
    )

    async def all_stored() -> bool:
        return len(await chat_messages(server, admin)) == len(ids)

    await eventually(all_stored, what="all incoming messages stored")
    stored = {m["wa_message_id"]: m for m in await chat_messages(server, admin)}
    for kind, wa_id in ids.items():
        item = stored[wa_id]
        assert item["type"] == kind
        assert item["status"] == "received"
        assert item["direction"] == "in"
        assert item["contact_phone"] == CUSTOMER
        assert item["contact_lid"].endswith("@lid")
        assert item["sent_at"] is not None  # WhatsApp's own time of the message
    assert stored[ids["text"]]["text"] == "<script>oi</script>"
    for kind, (data, mimetype) in files.items():
        media = stored[ids[kind]]["media"]
        assert media["sha256"] is not None
        download = await server.http.get(f"{API}/media/{media['media_id']}", headers=admin)
        assert download.status_code == 200
        assert download.content == data
        assert download.headers["content-type"].startswith(mimetype)
    assert stored[ids["location"]]["location"]["name"] == "Praça"
    assert stored[ids["reaction"]]["reaction"]["wa_message_id"] == ids["text"]

    chats = (await server.http.get(f"{API}/chats", headers=admin)).json()["items"]
    assert len(chats) == 1
    assert chats[0]["unread_count"] == len(ids) - 1  # reactions are not unread messages
    contact = (
        await server.http.get(f"{API}/contacts/{chats[0]['contact_id']}", headers=admin)
    ).json()
    assert contact["phone"] == CUSTOMER
    assert contact["push_name"] == "Ana"
    assert contact["lid"].endswith("@lid")
    status = (await server.http.get(f"{API}/connections/{cid}/status", headers=admin)).json()
    assert status["state"] == "ready"
    stats = (await server.http.get(f"{API}/connections/{cid}/stats", headers=admin)).json()
    assert stats["messages_received"] == len(ids)
    assert stats["last_activity_at"] is not None


async def test_duplicates_closed_chats_read_and_groups(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    sim = simulator(server)
    wa_id = await sim.incoming(cid, from_phone=CUSTOMER, text="one", wa_message_id="3AFIXED01")
    await sim.incoming(cid, from_phone=CUSTOMER, text="one", wa_message_id="3AFIXED01")

    async def one_stored() -> bool:
        return len(await chat_messages(server, admin)) == 1

    await eventually(one_stored, what="first message stored")
    chat = (await server.http.get(f"{API}/chats", headers=admin)).json()["items"][0]
    assert chat["unread_count"] == 1
    closed = await server.http.patch(
        f"{API}/chats/{chat['id']}", headers=admin, json={"status": "closed"}
    )
    assert closed.json()["status"] == "closed"
    read = await server.http.post(f"{API}/chats/{chat['id']}/read", headers=admin)
    assert read.json()["unread_count"] == 0
    assert sim.reads(cid)[-1].message_ids == (wa_id,)

    await sim.incoming(cid, from_phone=CUSTOMER, text="two")

    async def reopened() -> bool:
        body = (await server.http.get(f"{API}/chats/{chat['id']}", headers=admin)).json()
        return bool(body["status"] == "pending" and body["unread_count"] == 1)

    await eventually(reopened, what="closed chat reopened as pending")
    assert len(await chat_messages(server, admin)) == 2
    async with server.runtime.db.read() as s:
        types = list((await s.scalars(select(EventRow.type))).all())
    assert types.count("message.received") == 2
    assert "chat.updated" in types
    assert "contact.updated" in types

    await sim.incoming(cid, from_phone="5511966665555", text="hi all", group="Família")

    async def group_stored() -> bool:
        chats = (await server.http.get(f"{API}/chats", headers=admin)).json()["items"]
        return any(c["is_group"] for c in chats)

    await eventually(group_stored, what="group chat stored")
    groups = (await server.http.get(f"{API}/connections/{cid}/groups", headers=admin)).json()
    assert groups[0]["name"] == "Família"
    phones = {p["phone"] for p in groups[0]["participants"]}
    assert phones == {"5511966665555", "5511999990001"}
    presence = await server.http.post(
        f"{API}/chats/{chat['id']}/presence", headers=admin, json={"presence": "typing"}
    )
    assert presence.status_code == 204
    assert sim.presences(cid)[-1].presence == "typing"


async def test_a_burst_is_stored_in_order_before_the_next_state_change(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    # Everything queued for one connection travels as one batch to the recorder, but up
    # to the next lifecycle event only: the messages commit, in order, before the
    # connection's state moves on.
    cid = await ready_connection(server, admin, clock)
    engine = simulator(server)
    for n in range(40):
        await engine.incoming(cid, from_phone=CUSTOMER, text=f"burst {n}")
    await engine.logout_from_phone(cid)

    async def logged_out() -> bool:
        state = (await server.http.get(f"{API}/connections/{cid}", headers=admin)).json()
        return bool(state["state"] == "logged_out")

    await eventually(logged_out, what="the logout")
    async with server.runtime.db.read() as s:
        rows = (
            await s.execute(
                select(EventRow.type, EventRow.data)
                .where(EventRow.type.in_(["message.received", "connection.status"]))
                .order_by(EventRow.id)
            )
        ).all()
    texts = [data["text"] for kind, data in rows if kind == "message.received"]
    assert texts == [f"burst {n}" for n in range(40)]
    last_message = max(i for i, (kind, _) in enumerate(rows) if kind == "message.received")
    logout = next(
        i
        for i, (kind, data) in enumerate(rows)
        if kind == "connection.status" and data.get("state") == "logged_out"
    )
    assert last_message < logout
    chats = (await server.http.get(f"{API}/chats", headers=admin)).json()["items"]
    assert [c["last_message"]["text"] for c in chats] == ["burst 39"]


async def test_an_event_that_cannot_be_prepared_is_lost_alone(
    server: Server, admin: dict[str, str], clock: ManualClock, monkeypatch: Any
) -> None:
    cid = await ready_connection(server, admin, clock)
    recorder = server.runtime.messaging.recorder
    works = recorder._works

    async def failing(connection_id: str, event: Any) -> Any:
        message = getattr(event, "message", None)
        if message is not None and message.text == "bad":
            raise OSError("disk full")
        return await works(connection_id, event)

    monkeypatch.setattr(recorder, "_works", failing)
    engine = simulator(server)
    for text in ("first", "bad", "last"):
        await engine.incoming(cid, from_phone=CUSTOMER, text=text)

    async def stored() -> bool:
        return recorder.stored >= 2

    await eventually(stored, what="the two good messages")
    texts = sorted(m["text"] for m in await chat_messages(server, admin))
    assert texts == ["first", "last"]


async def test_read_receipts_wait_for_the_connection(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    sim = simulator(server)
    wa_id = await sim.incoming(cid, from_phone=CUSTOMER, text="are you there?")

    async def stored() -> bool:
        return len(await chat_messages(server, admin)) == 1

    await eventually(stored, what="message stored")
    chat = (await server.http.get(f"{API}/chats", headers=admin)).json()["items"][0]
    await sim.set_network(False)
    await wait_state(server.http, admin, cid, "reconnecting")
    read = await server.http.post(f"{API}/chats/{chat['id']}/read", headers=admin)
    assert read.json()["unread_count"] == 0  # the agent has read it...
    assert sim.reads(cid) == []  # ...but the phone cannot be told yet

    await sim.set_network(True)

    async def ready() -> bool:
        return (await status_of(server.http, admin, cid))["state"] == "ready"

    await drive(clock, ready, what="reconnected")
    await server.http.post(f"{API}/chats/{chat['id']}/read", headers=admin)
    assert [r.message_ids for r in sim.reads(cid)] == [(wa_id,)]
    await server.http.post(f"{API}/chats/{chat['id']}/read", headers=admin)
    assert len(sim.reads(cid)) == 1  # sent once
