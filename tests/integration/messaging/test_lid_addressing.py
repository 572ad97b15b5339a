"""A customer WhatsApp addresses by phone JID, then by LID (with or without the phone
beside it), then by phone again is one contact and one chat, and every shape and event
carries their phone, phone JID and LID; on SQLite and PostgreSQL, through the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.conftest import Server, eventually
from tests.integration.api.helpers import API
from tests.integration.messaging.kit import CUSTOMER, ready_connection, send, wait_status
from zapgate.engines.simulator.qr import lid_for
from zapgate.store.tables.events import EventRow
from zapgate.util.clock import ManualClock

PHONE_JID = f"{CUSTOMER}@s.whatsapp.net"
LID = lid_for(CUSTOMER)


async def incoming(server: Server, headers: dict[str, str], cid: str, **body: Any) -> str:
    response = await server.http.post(
        f"{API}/simulator/connections/{cid}/incoming",
        headers=headers,
        json={"from": CUSTOMER, **body},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["wa_message_id"])


async def get(server: Server, headers: dict[str, str], path: str) -> Any:
    response = await server.http.get(f"{API}{path}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def wait_messages(server: Server, headers: dict[str, str], count: int) -> list[Any]:
    """The messages of every chat once ``count`` are stored, oldest first."""
    found: list[Any] = []

    async def stored() -> bool:
        nonlocal found
        found = []
        for chat in (await get(server, headers, "/chats"))["items"]:
            page = await server.http.get(f"{API}/chats/{chat['id']}/messages", headers=headers)
            if page.status_code == 404:
                return False  # folded into another chat meanwhile: look again
            found.extend(page.json()["items"])
        return len(found) >= count

    await eventually(stored, what=f"{count} messages stored")
    return sorted(found, key=lambda m: str(m["id"]))  # UUIDv7: the order they were stored


async def events(server: Server, *types: str) -> list[dict[str, Any]]:
    async with server.runtime.db.read() as s:
        rows = await s.execute(
            select(EventRow.data).where(EventRow.type.in_(types)).order_by(EventRow.id)
        )
        return [dict(data) for (data,) in rows.all()]


def assert_person(shape: dict[str, Any], prefix: str = "") -> None:
    assert shape[f"{prefix}phone"] == CUSTOMER, shape
    assert shape[f"{prefix}jid"] == PHONE_JID, shape
    assert shape[f"{prefix}lid"] == LID, shape


async def test_a_chat_moved_to_lid_addressing_stays_one_chat(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    await incoming(server, admin, cid, text="by phone", push_name="Ana")
    await incoming(server, admin, cid, text="by LID, phone beside", as_lid=True)
    await incoming(server, admin, cid, text="by LID alone", as_lid=True, with_phone=False)
    await incoming(server, admin, cid, text="by phone again")
    received = await wait_messages(server, admin, 4)

    chats = (await get(server, admin, "/chats"))["items"]
    assert len(chats) == 1
    chat = chats[0]
    assert_person(chat)
    assert chat["unread_count"] == 4
    contacts = (await get(server, admin, "/contacts"))["items"]
    assert len(contacts) == 1
    assert_person(contacts[0])
    assert chat["contact_id"] == contacts[0]["id"]
    assert [m["text"] for m in received] == [
        "by phone",
        "by LID, phone beside",
        "by LID alone",
        "by phone again",
    ]
    for m in received:
        assert m["chat_id"] == chat["id"]
        assert m["chat_jid"] == PHONE_JID
        assert m["from"] == PHONE_JID
        assert_person(m, "contact_")

    # A send to the phone goes into the same chat, and its events say who it is.
    sent = await send(server.http, admin, {"connection_id": cid, "to": CUSTOMER, "text": "oi"})
    assert sent["chat_id"] == chat["id"]
    await wait_status(server, admin, clock, sent["id"], "delivered", "read")
    assert len((await get(server, admin, "/chats"))["items"]) == 1

    for data in await events(server, "message.received", "message.sent", "message.status"):
        assert_person(data, "contact_")
        assert data["chat_id"] == chat["id"]
    chat_events = await events(server, "chat.updated")
    assert chat_events
    for data in chat_events:
        assert data["id"] == chat["id"]
        assert_person(data)
    contact_events = await events(server, "contact.updated")
    assert contact_events
    assert_person(contact_events[-1])
    for data in contact_events:
        assert data["jid"] == PHONE_JID
        assert data["lid"] == LID


async def test_a_customer_first_known_by_lid_alone_keeps_the_chat_once_the_phone_is_known(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    await incoming(server, admin, cid, text="who am I", as_lid=True, with_phone=False)
    [first] = await wait_messages(server, admin, 1)
    chat = (await get(server, admin, "/chats"))["items"][0]
    # Only the LID is known: the chat and the contact are keyed by it, no phone is made up.
    assert (chat["jid"], chat["phone"], chat["lid"]) == (LID, None, LID)
    assert (first["contact_phone"], first["contact_jid"], first["contact_lid"]) == (None, None, LID)
    assert first["chat_jid"] == LID

    await incoming(server, admin, cid, text="by LID, phone beside", as_lid=True)
    await incoming(server, admin, cid, text="by phone")
    received = await wait_messages(server, admin, 3)
    chats = (await get(server, admin, "/chats"))["items"]
    assert len(chats) == 1
    assert chats[0]["id"] == chat["id"]  # the same chat, now keyed by the phone
    assert_person(chats[0])
    assert chats[0]["unread_count"] == 3
    contacts = (await get(server, admin, "/contacts"))["items"]
    assert len(contacts) == 1
    assert_person(contacts[0])
    # The first message moved with its chat; it keeps what was known when it came.
    assert {m["chat_jid"] for m in received} == {PHONE_JID}
    assert {m["chat_id"] for m in received} == {chat["id"]}
    assert_person(received[-1], "contact_")
    # Searching the inbox by the phone finds the chat begun by the LID.
    found = (await get(server, admin, f"/chats?q={CUSTOMER}"))["items"]
    assert [c["id"] for c in found] == [chat["id"]]


async def test_a_duplicate_chat_from_before_is_folded_into_the_phones(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    """A LID-only chat and a phone chat of the same person (opened before anyone knew
    they were one) become one chat when a message ties the phone to the LID."""
    cid = await ready_connection(server, admin, clock)
    await incoming(server, admin, cid, text="by LID alone", as_lid=True, with_phone=False)
    [by_lid] = await wait_messages(server, admin, 1)
    sent = await send(server.http, admin, {"connection_id": cid, "to": CUSTOMER, "text": "oi"})
    await wait_status(server, admin, clock, sent["id"], "delivered", "read")
    assert len((await get(server, admin, "/chats"))["items"]) == 2
    assert len((await get(server, admin, "/contacts"))["items"]) == 2

    await incoming(server, admin, cid, text="by phone, LID beside")
    received = await wait_messages(server, admin, 3)
    chats = (await get(server, admin, "/chats"))["items"]
    assert len(chats) == 1
    chat = chats[0]
    assert chat["id"] == sent["chat_id"]  # the phone's chat is the one kept
    assert_person(chat)
    assert chat["unread_count"] == 2
    assert chat["last_message"]["text"] == "by phone, LID beside"
    contacts = (await get(server, admin, "/contacts"))["items"]
    assert len(contacts) == 1
    assert_person(contacts[0])
    assert {m["chat_id"] for m in received} == {chat["id"]}
    assert {m["chat_jid"] for m in received} == {PHONE_JID}
    # The folded chat is gone: asking for it is a plain 404.
    gone = await server.http.get(f"{API}/chats/{by_lid['chat_id']}", headers=admin)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "chat_not_found"


async def test_a_folded_chat_keeps_its_assignee_and_open_status(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    """An agent took the LID-only chat (assigned, active) before the phone's chat and it
    turned out to be one person: the chat kept is assigned to them and active."""
    cid = await ready_connection(server, admin, clock)
    await incoming(server, admin, cid, text="by LID alone", as_lid=True, with_phone=False)
    [by_lid] = await wait_messages(server, admin, 1)
    me = await get(server, admin, "/me")
    me_id = (me.get("user") or me)["id"]
    taken = await server.http.patch(
        f"{API}/chats/{by_lid['chat_id']}",
        headers=admin,
        json={"assignee_id": me_id, "status": "active"},
    )
    assert taken.status_code == 200, taken.text
    sent = await send(server.http, admin, {"connection_id": cid, "to": CUSTOMER, "text": "oi"})
    await wait_status(server, admin, clock, sent["id"], "delivered", "read")
    phone_chat = await get(server, admin, f"/chats/{sent['chat_id']}")
    assert phone_chat["assignee_id"] is None

    await incoming(server, admin, cid, text="by phone, LID beside")
    await wait_messages(server, admin, 3)
    [chat] = (await get(server, admin, "/chats"))["items"]
    assert chat["id"] == sent["chat_id"]
    assert chat["assignee_id"] == me_id
    assert chat["status"] == "active"


async def test_the_api_document_describes_phone_jid_and_lid(server: Server) -> None:
    schemas = (await server.http.get(f"{API}/openapi.json")).json()["components"]["schemas"]
    assert {"jid", "phone", "lid"} <= set(schemas["ChatPublic"]["properties"])
    assert {"jid", "phone", "lid"} <= set(schemas["ContactPublic"]["properties"])
    message = set(schemas["MessagePublic"]["properties"])
    assert {"chat_jid", "contact_phone", "contact_jid", "contact_lid"} <= message
    incoming = set(schemas["SimIncomingIn"]["properties"])
    assert {"as_lid", "with_phone"} <= incoming


async def test_an_edit_and_a_delete_addressed_by_lid_change_the_message_sent_by_phone(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    first = await incoming(server, admin, cid, text="typo")
    second = await incoming(server, admin, cid, text="oops")
    stored = await wait_messages(server, admin, 2)
    await incoming(server, admin, cid, type="edit", message_id=first, text="fixed", as_lid=True)
    await incoming(server, admin, cid, type="revoke", message_id=second, as_lid=True)

    async def changed() -> bool:
        edited = await get(server, admin, f"/messages/{stored[0]['id']}")
        revoked = await get(server, admin, f"/messages/{stored[1]['id']}")
        return edited["text"] == "fixed" and revoked["revoked_at"] is not None

    await eventually(changed, what="the edit and the delete applied")
    edited = await events(server, "message.edited")
    assert [e["text"] for e in edited] == ["fixed"]
    assert_person(edited[0], "contact_")
    assert len(await events(server, "message.revoked")) == 1
