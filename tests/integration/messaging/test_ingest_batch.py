"""The inbound pipeline's group commit, driven directly: what one batch must guarantee."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tests.conftest import Server
from tests.integration.api.helpers import API
from tests.integration.messaging.kit import (
    CUSTOMER,
    ready_connection,
    send,
    simulator,
    wait_status,
)
from zapgate.domain.messages import MessageType, ReceiptType
from zapgate.engines.events import (
    ContactInfo,
    EngineEvent,
    InboundMessage,
    MessageReceived,
    ReceiptReceived,
)
from zapgate.services.batchcache import BatchRecords
from zapgate.services.inbound import recorder as inbound_recorder
from zapgate.services.inbound.recorder import InboundRecorder
from zapgate.store.tables.connections import ConnectionRow
from zapgate.store.tables.conversations import ChatRow, ContactRow
from zapgate.store.tables.events import EventRow
from zapgate.store.tables.messages import MessageRow
from zapgate.util.clock import ManualClock

PHONES = [f"55119000{n:05d}" for n in range(6)]


def _received(
    cid: str,
    clock: ManualClock,
    wa_id: str,
    phone: str | None,
    text: str,
    *,
    lid: str | None = None,
) -> MessageReceived:
    sender = f"{phone}@s.whatsapp.net" if phone else str(lid)
    return MessageReceived(
        cid,
        InboundMessage(
            wa_message_id=wa_id,
            chat_jid=sender,
            sender_jid=sender,
            timestamp=clock.now(),
            type=MessageType.TEXT,
            sender_lid=lid,
            sender_phone=phone,
            push_name="Cliente",
            text=text,
        ),
    )


async def _setup(server: Server, admin: dict[str, str], clock: ManualClock) -> tuple[str, str]:
    cid = await ready_connection(server, admin, clock)
    async with server.runtime.db.read() as s:
        org = await s.scalar(select(ConnectionRow.organization_id).where(ConnectionRow.id == cid))
    assert org is not None
    return org, cid


def _recorder(server: Server) -> InboundRecorder:
    return server.runtime.messaging.recorder


async def _count(server: Server, model: Any, *where: Any) -> int:
    async with server.runtime.db.read() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_one_batch_creates_updates_and_stores_each_message_once(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    org, cid = await _setup(server, admin, clock)
    recorder = _recorder(server)
    await recorder(org, cid, [_received(cid, clock, "3AFIRST", PHONES[0], "first")])
    async with server.runtime.db.write() as s:
        await s.execute(update(ChatRow).values(status="closed"))
    events_before = await _count(server, EventRow)

    batch: list[EngineEvent] = [
        ContactInfo(cid, f"{PHONES[1]}@s.whatsapp.net", PHONES[1], None, "Cliente"),
        _received(cid, clock, "3AFIRST", PHONES[0], "first again"),  # stored already
        _received(cid, clock, "3ASECOND", PHONES[0], "second"),
        _received(cid, clock, "3ATHIRD", PHONES[0], "third"),
        _received(cid, clock, "3ANEW1", PHONES[1], "hello"),
        _received(cid, clock, "3ANEW1", PHONES[1], "hello"),  # twice in one batch
    ]
    await recorder(org, cid, batch)

    assert await _count(server, MessageRow) == 4
    assert await _count(server, ContactRow) == 2
    async with server.runtime.db.read() as s:
        chats = {c.jid: c for c in (await s.scalars(select(ChatRow))).all()}
        types = list(
            (
                await s.scalars(
                    select(EventRow.type).where(EventRow.id > events_before).order_by(EventRow.id)
                )
            ).all()
        )
    old = chats[f"{PHONES[0]}@s.whatsapp.net"]
    assert (old.status, old.unread_count) == ("pending", 3)  # closed chat reopened
    assert old.last_message is not None
    assert old.last_message["text"] == "third"
    new = chats[f"{PHONES[1]}@s.whatsapp.net"]
    assert (new.status, new.unread_count) == ("pending", 1)
    assert new.contact_id is not None
    assert types == [
        "contact.updated",
        "message.received",
        "chat.updated",
        "message.received",
        "chat.updated",
        "message.received",
        "chat.updated",
    ]


async def test_a_stored_chat_takes_the_batch_counts_on_top_of_a_change_it_did_not_see(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    org, cid = await _setup(server, admin, clock)
    await _recorder(server)(org, cid, [_received(cid, clock, "3AONE", PHONES[2], "one")])
    jid = f"{PHONES[2]}@s.whatsapp.net"
    async with server.runtime.db.write() as s:
        records = BatchRecords()
        await records.load(s, chats=[(cid, jid)])
        # An agent reads the chat after the batch loaded it.
        await s.execute(update(ChatRow).values(unread_count=0))
        chat = records.chat(
            organization_id=org, connection_id=cid, jid=jid, contact_id=None, now=clock.now()
        )
        chat.unread_count += 1
        chat.last_message = {"text": "two"}
        await records.drain(s)
    async with server.runtime.db.read() as s:
        stored = await s.scalar(select(ChatRow).where(ChatRow.jid == jid))
    assert stored is not None
    assert stored.unread_count == 1
    assert stored.last_message == {"text": "two"}


async def test_a_contact_known_by_lid_and_then_by_phone_is_one_contact(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    org, cid = await _setup(server, admin, clock)
    lid = "12345678901234@lid"
    recorder = _recorder(server)
    await recorder(org, cid, [_received(cid, clock, "3ALID1", None, "by lid", lid=lid)])
    await recorder(
        org,
        cid,
        [
            _received(cid, clock, "3APHONE1", PHONES[3], "by phone", lid=lid),
            _received(cid, clock, "3AOTHER", PHONES[4], "someone else"),
        ],
    )
    async with server.runtime.db.read() as s:
        contacts = (await s.scalars(select(ContactRow).order_by(ContactRow.jid))).all()
    assert [(c.jid, c.lid) for c in contacts] == [
        (f"{PHONES[3]}@s.whatsapp.net", lid),
        (f"{PHONES[4]}@s.whatsapp.net", None),
    ]
    assert await _count(server, MessageRow) == 3
    # The chat begun by the LID is the phone's now (one chat each, keyed by phone).
    async with server.runtime.db.read() as s:
        chats = (await s.scalars(select(ChatRow).order_by(ChatRow.jid))).all()
    assert [(c.jid, c.lid) for c in chats] == [
        (f"{PHONES[3]}@s.whatsapp.net", lid),
        (f"{PHONES[4]}@s.whatsapp.net", None),
    ]


async def test_messages_addressed_by_lid_in_one_batch_go_to_the_phones_chat(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    """A LID with the phone beside it, a LID alone, and our own message sent from the
    phone in the LID-addressed chat (its phone in ``chat_phone``): all the phone's chat."""
    org, cid = await _setup(server, admin, clock)
    lid = "98765432109876@lid"
    phone_jid = f"{PHONES[0]}@s.whatsapp.net"
    recorder = _recorder(server)
    await recorder(org, cid, [_received(cid, clock, "3ABYPHONE", PHONES[0], "hi", lid=lid)])
    async with server.runtime.db.write() as s:
        records = BatchRecords()
        await records.load(s, parties=[(org, phone_jid, None)], chats=[(cid, phone_jid)])
        # The chat under the person's other address is read with the batch, not later.
        assert (cid, lid) in records.looked
    own = MessageReceived(
        cid,
        InboundMessage(
            wa_message_id="3AFROMPHONE",
            chat_jid=lid,
            sender_jid="5511999990001@s.whatsapp.net",
            timestamp=clock.now(),
            type=MessageType.TEXT,
            from_me=True,
            chat_phone=PHONES[0],
            text="answered on the phone",
        ),
    )
    lid_alone = _received(cid, clock, "3ALIDALONE", None, "lid alone", lid=lid)
    with_phone = _received(cid, clock, "3ALIDPHONE", PHONES[0], "lid and phone", lid=lid)
    with_phone = replace(
        with_phone, message=replace(with_phone.message, chat_jid=lid, sender_jid=lid)
    )
    await recorder(org, cid, [lid_alone, own, with_phone])
    async with server.runtime.db.read() as s:
        chats = (await s.scalars(select(ChatRow))).all()
        rows = (await s.scalars(select(MessageRow).order_by(MessageRow.id))).all()
    assert [(c.jid, c.lid, c.unread_count) for c in chats] == [(phone_jid, lid, 3)]
    assert {(m.chat_id, m.chat_jid) for m in rows} == {(chats[0].id, phone_jid)}
    assert [m.sender_jid for m in rows if m.direction == "in"] == [phone_jid] * 3
    assert await _count(server, ContactRow) == 1


async def test_a_failing_item_is_replayed_alone_and_the_others_are_stored(
    server: Server, admin: dict[str, str], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    org, cid = await _setup(server, admin, clock)
    recorder = _recorder(server)
    message = inbound_recorder.store_message

    async def failing(s: Any, batch: Any, item: Any, work: Any, now: Any) -> bool:
        if work.message.text == "bad":
            raise RuntimeError("cannot store this one")
        return await message(s, batch, item, work, now)

    monkeypatch.setattr(inbound_recorder, "store_message", failing)
    events = [
        _received(cid, clock, f"3AREPLAY{n}", PHONES[5], text)
        for n, text in enumerate(["first", "bad", "last"])
    ]
    with pytest.raises(RuntimeError, match="cannot store"):
        await recorder(org, cid, events)
    async with server.runtime.db.read() as s:
        texts = sorted((await s.scalars(select(MessageRow.text))).all())
        chat = await s.scalar(select(ChatRow))
    assert texts == ["first", "last"]
    assert chat is not None
    assert chat.unread_count == 2
    assert await _count(server, EventRow, EventRow.type == "message.received") == 2


async def test_a_message_keeps_whatsapps_time_of_sending(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    org, cid = await _setup(server, admin, clock)
    late = _received(cid, clock, "3ALATE", PHONES[5], "sent while we were offline")
    sent = clock.now() - timedelta(hours=2)
    late = replace(late, message=replace(late.message, timestamp=sent))
    await _recorder(server)(org, cid, [late])
    async with server.runtime.db.read() as s:
        row = await s.scalar(select(MessageRow).where(MessageRow.wa_message_id == "3ALATE"))
    assert row is not None
    assert row.sent_at == sent
    assert row.created_at == clock.now()


async def test_a_receipt_and_a_late_message_in_one_batch_keep_the_previews_status(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    org, cid = await _setup(server, admin, clock)
    simulator(server).update_settings(auto_receipts=False)
    jid = f"{CUSTOMER}@s.whatsapp.net"
    ours = await send(server.http, admin, {"to": CUSTOMER, "text": "our answer"})
    await wait_status(server, admin, clock, ours["id"], "sent")
    late = _received(cid, clock, "3AEARLIER", CUSTOMER, "written before our answer")
    late = replace(late, message=replace(late.message, timestamp=clock.now() - timedelta(hours=1)))
    read = ReceiptReceived(cid, jid, (ours["wa_message_id"],), ReceiptType.READ, clock.now())
    # One batch: the receipt moves our message (the chat's last) to read; the late
    # message then updates the same chat without becoming its last message.
    await _recorder(server)(org, cid, [read, late])
    chat = (await server.http.get(f"{API}/chats/{ours['chat_id']}", headers=admin)).json()
    assert chat["last_message"]["id"] == ours["id"]
    assert chat["last_message"]["status"] == "read"
    assert chat["unread_count"] == 1


async def test_a_send_to_the_phone_lands_in_the_chat_opened_by_its_lid(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    """The chat was opened by the LID alone; WhatsApp later told the mapping in a contact
    update (no message); a send to the phone goes into that chat, now keyed by phone."""
    org, cid = await _setup(server, admin, clock)
    lid = "55555555555555@lid"
    phone_jid = f"{CUSTOMER}@s.whatsapp.net"
    recorder = _recorder(server)
    await recorder(org, cid, [_received(cid, clock, "3ALIDFIRST", None, "oi", lid=lid)])
    await recorder(org, cid, [ContactInfo(cid, phone_jid, CUSTOMER, lid, "Cliente")])
    async with server.runtime.db.read() as s:
        (opened,) = (await s.scalars(select(ChatRow))).all()
    assert opened.jid == lid  # the mapping alone re-keys no chat

    sent = await send(server.http, admin, {"connection_id": cid, "to": CUSTOMER, "text": "olá"})
    assert sent["chat_id"] == opened.id
    assert sent["to"] == phone_jid
    await wait_status(server, admin, clock, sent["id"], "delivered", "read")
    async with server.runtime.db.read() as s:
        chats = (await s.scalars(select(ChatRow))).all()
        jids = set((await s.scalars(select(MessageRow.chat_jid))).all())
    assert [(c.id, c.jid, c.lid) for c in chats] == [(opened.id, phone_jid, lid)]
    assert jids == {phone_jid}
    assert await _count(server, ContactRow) == 1
