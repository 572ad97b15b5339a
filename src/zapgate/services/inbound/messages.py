"""Storing one inbound message in a batch: its contact, its chat (unread count, preview,
reopening), the message row once per WhatsApp id, and its events."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.schema import Table

from zapgate.domain.chats import ChatStatus
from zapgate.domain.events import EventType
from zapgate.domain.ids import new_id
from zapgate.domain.mediatypes import media_type, safe_filename
from zapgate.domain.messages import Direction, MessageStatus, MessageType
from zapgate.domain.polls import poll_payload
from zapgate.engines.events import InboundMessage
from zapgate.events.log import stage_event
from zapgate.services.batchcache import BatchRecords
from zapgate.services.drafts import MessageDraft
from zapgate.services.inbound.work import Item, ReceivedMessage, party_jid, party_lid
from zapgate.services.payloads import (
    chat_payload,
    contact_payload,
    mention_entries,
    message_payload,
    message_preview,
)
from zapgate.store.tables.conversations import ContactRow, GroupRow
from zapgate.store.tables.messages import MessageRow

S = MessageStatus
_INBOUND_COLUMNS = frozenset(
    [
        "id",
        "organization_id",
        "connection_id",
        "chat_id",
        "contact_id",
        "wa_message_id",
        "direction",
        "chat_jid",
        "sender_jid",
        "type",
        "status",
        "text",
        "media_id",
        "payload",
        "quoted_wa_id",
        "attempts",
        "created_at",
        "sent_at",
    ]
)
"""What :func:`message_values` gives; the other columns of an inbound message are NULL."""
_MESSAGE_NULLS: dict[str, Any] = {
    c.key: None for c in cast(Table, MessageRow.__table__).columns if c.key not in _INBOUND_COLUMNS
}


async def store_message(
    s: AsyncSession, batch: BatchRecords, item: Item, work: ReceivedMessage, now: datetime
) -> bool:
    """Stage ``work``'s message; False when the batch already has its WhatsApp id."""
    org, cid, msg = item.organization_id, item.connection_id, work.message
    contact = None
    contact_changed = False
    party = party_jid(msg)
    if party is not None:
        contact, contact_changed = await batch.contact(
            s,
            organization_id=org,
            jid=party,
            now=now,
            lid=party_lid(msg),
            push_name=msg.push_name if not msg.from_me else None,
        )
    group_name = None
    if msg.is_group:
        group_name = await s.scalar(
            select(GroupRow.name).where(GroupRow.connection_id == cid, GroupRow.jid == msg.chat_jid)
        )
    if msg.is_group or contact is None:
        chat = batch.chat(
            organization_id=org,
            connection_id=cid,
            jid=msg.chat_jid,
            contact_id=None,
            now=now,
            name=group_name,
        )
    else:
        # One chat per person whether WhatsApp addressed this one by phone or by LID.
        chat = await batch.person_chat(
            s, organization_id=org, connection_id=cid, contact=contact, jid=msg.chat_jid, now=now
        )
    values = message_values(org, cid, chat.id, msg, contact, work, now)
    if not msg.is_group:
        values["chat_jid"] = chat.jid
        if not msg.from_me:
            values["sender_jid"] = chat.jid
    if not batch.add_message(values):
        return False  # the same WhatsApp id again: already stored once
    if work.media is not None:
        work.media.organization_id = org
        s.add(work.media)
    # The inserted values as a plain object with every column, for the payload
    # functions (an ORM object cost ~10 % of the pipeline's CPU to build and read).
    row = MessageDraft(**_MESSAGE_NULLS, **values)
    if contact is not None and contact_changed:
        stage_event(
            s,
            organization_id=org,
            connection_id=cid,
            type=EventType.CONTACT_UPDATED,
            data=contact_payload(contact),
            created_at=now,
        )
    counts = not work.history and msg.type is not MessageType.REACTION
    if counts:
        if not msg.from_me:
            chat.unread_count += 1
            if chat.status == ChatStatus.CLOSED:
                chat.status = ChatStatus.PENDING.value
        if (
            chat.last_message_at is None
            or msg.timestamp >= chat.last_message_at
            or (chat.last_message is None)
        ):
            chat.last_message = message_preview(row)
            chat.last_message_at = max(msg.timestamp, chat.last_message_at or msg.timestamp)
        chat.updated_at = now
    if work.history:
        return True
    kind = EventType.MESSAGE_SENT if msg.from_me else EventType.MESSAGE_RECEIVED
    stage_event(
        s,
        organization_id=org,
        connection_id=cid,
        type=kind,
        data=message_payload(row),
        created_at=now,
    )
    if counts:
        stage_event(
            s,
            organization_id=org,
            connection_id=cid,
            type=EventType.CHAT_UPDATED,
            data=chat_payload(chat),
            created_at=now,
        )
    return True


def message_values(
    org: str,
    cid: str,
    chat_id: str,
    msg: InboundMessage,
    contact: ContactRow | None,
    work: ReceivedMessage,
    now: datetime,
) -> dict[str, Any]:
    """The message's columns; those always NULL for an inbound message are left out
    (fewer values to bind per row)."""
    payload: dict[str, Any] = {
        "contact_phone": contact.phone if contact is not None else None,
        "contact_lid": contact.lid if contact is not None else None,
        "push_name": msg.push_name,
    }
    if msg.media is not None:
        payload["media"] = {
            "media_id": work.media.id if work.media is not None else None,
            "mimetype": work.media.mimetype if work.media else media_type(msg.media.mimetype),
            "filename": safe_filename(msg.media.filename),
            "size": msg.media.size,
            "sha256": work.media.sha256 if work.media is not None else msg.media.sha256,
            "caption": msg.caption,
            "error": work.media_error,
        }
    if msg.location is not None:
        payload["location"] = asdict(msg.location)
    if msg.contact is not None:
        payload["contact"] = asdict(msg.contact)
    if msg.mentions:
        payload["mentions"] = mention_entries(msg.mentions)
    if msg.poll is not None:
        payload["poll"] = poll_payload(msg.poll)
    if msg.reaction is not None:
        payload["reaction"] = {
            "wa_message_id": msg.reaction.target_id,
            "emoji": msg.reaction.emoji,
            "from_me": msg.reaction.target_from_me,
        }
    return {
        "id": new_id(),
        "organization_id": org,
        "connection_id": cid,
        "chat_id": chat_id,
        "contact_id": contact.id if contact is not None else None,
        "wa_message_id": msg.wa_message_id,
        "direction": (Direction.OUT if msg.from_me else Direction.IN).value,
        "chat_jid": msg.chat_jid,
        "sender_jid": msg.sender_jid,
        "type": MessageType(msg.type).value,
        "status": (S.SENT if msg.from_me else S.RECEIVED).value,
        "text": _text(msg),
        "media_id": work.media.id if work.media is not None else None,
        "payload": payload,
        "quoted_wa_id": msg.quoted_id,
        "attempts": 0,
        "created_at": now,
        # When WhatsApp says it was sent (by the customer, or from the phone): it can be
        # well before ``created_at`` for messages delivered on reconnecting.
        "sent_at": msg.timestamp,
    }


def _text(msg: InboundMessage) -> str | None:
    """The text, else the caption; a poll's question is its text (inbox preview, search)."""
    if msg.text is not None:
        return msg.text
    if msg.poll is not None:
        return msg.poll.question
    return msg.caption
