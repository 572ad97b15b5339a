"""Calls to a connection's number: a ``call`` row in the caller's chat, a
``call.received`` event, and, when the connection rejected the call and has a reply,
that reply queued in the outbox like any other message.

A supervisor listener beside the inbound recorder. Calls are rare, so each batch is one
plain transaction rather than a group commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.events import EventType
from zapgate.domain.ids import new_id
from zapgate.domain.messages import MessageStatus, MessageType
from zapgate.domain.phones import USER_SERVER
from zapgate.engines.base import new_wa_message_id
from zapgate.engines.events import CallReceived, EngineEvent
from zapgate.events.log import flush_staged, stage_event
from zapgate.services.chat_rows import new_chat_values
from zapgate.services.fence import LeaseFence
from zapgate.services.identities import ensure_contact
from zapgate.services.payloads import chat_payload, contact_payload, message_preview
from zapgate.store.db import Database
from zapgate.store.tables.connections import ConnectionRow
from zapgate.store.tables.conversations import ChatRow, ContactRow
from zapgate.store.tables.messages import MessageRow
from zapgate.util.clock import Clock


def call_payload(call: CallReceived, message: MessageRow | None) -> dict[str, Any]:
    """The data of a ``call.received`` event."""
    # The stored contact may know the phone (or LID) the call itself did not give.
    extra = (message.payload or {}) if message is not None else {}
    phone = call.caller_phone or extra.get("contact_phone")
    lid = call.caller_lid or extra.get("contact_lid")
    jid = f"{phone}@{USER_SERVER}" if phone else call.caller_jid
    return {
        "from": {"phone": phone, "jid": jid, "lid": lid},
        "call_id": call.call_id,
        "is_video": call.is_video,
        "is_group": call.is_group,
        "rejected": call.rejected,
        "at": call.timestamp.isoformat(),
        "message_id": message.id if message is not None else None,
        "chat_id": message.chat_id if message is not None else None,
    }


class CallRecorder:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        on_accept: Callable[[str | None], None],
        fence: LeaseFence | None = None,
    ):
        self._db = db
        self._clock = clock
        self._on_accept = on_accept
        self._fence = fence or LeaseFence()

    async def __call__(
        self, organization_id: str, connection_id: str, events: Sequence[EngineEvent]
    ) -> None:
        calls = [e for e in events if isinstance(e, CallReceived)]
        if not calls:
            return
        queued = False
        epoch = self._fence.epoch(connection_id)
        async with self._db.write() as s:
            if not await self._fence.holds(s, connection_id, epoch):
                return
            connection = await s.get(ConnectionRow, connection_id)
            if connection is None:
                return
            for call in calls:
                queued = await self._record(s, connection, call) or queued
            # Events last, once every call's rows are written: the log's lock is the
            # last lock taken (events/log.py), or a second call updating a chat (or a
            # contact) under it could deadlock with the inbound recorder.
            await flush_staged(s)
        if queued:
            self._on_accept(connection_id)

    async def _record(self, s: AsyncSession, connection: ConnectionRow, call: CallReceived) -> bool:
        """Store one call and stage its events (the caller flushes them after every
        call's rows); True when a reply was queued."""
        now = self._clock.now()
        known = await s.scalar(
            select(MessageRow.id).where(
                MessageRow.connection_id == connection.id,
                MessageRow.wa_message_id == call.call_id,
            )
        )
        if known is not None:
            return False  # the same call reported again (a reconnect)
        jid = f"{call.caller_phone}@{USER_SERVER}" if call.caller_phone else call.caller_jid
        contact, changed = await ensure_contact(
            s, organization_id=connection.organization_id, jid=jid, now=now, lid=call.caller_lid
        )
        chat = await self._chat(s, connection, contact, now)
        row = MessageRow(
            id=new_id(),
            organization_id=connection.organization_id,
            connection_id=connection.id,
            chat_id=chat.id,
            contact_id=contact.id,
            wa_message_id=call.call_id,
            direction="in",
            chat_jid=chat.jid,
            sender_jid=call.caller_jid,
            type=MessageType.CALL.value,
            status=MessageStatus.RECEIVED.value,
            payload={
                "contact_phone": contact.phone,
                "contact_lid": contact.lid,
                "call": {
                    "is_video": call.is_video,
                    "is_group": call.is_group,
                    "rejected": call.rejected,
                },
            },
            attempts=0,
            created_at=now,
            sent_at=call.timestamp,
        )
        s.add(row)
        chat.unread_count += 1
        if chat.status == "closed":
            chat.status = "pending"
        chat.last_message = message_preview(row)
        chat.last_message_at = now
        chat.updated_at = now
        await s.flush()
        org, cid = connection.organization_id, connection.id
        if changed:
            stage_event(
                s,
                organization_id=org,
                connection_id=cid,
                type=EventType.CONTACT_UPDATED,
                data=contact_payload(contact),
                created_at=now,
            )
        stage_event(
            s,
            organization_id=org,
            connection_id=cid,
            type=EventType.CALL_RECEIVED,
            data=call_payload(call, row),
            created_at=now,
        )
        stage_event(
            s,
            organization_id=org,
            connection_id=cid,
            type=EventType.CHAT_UPDATED,
            data=chat_payload(chat),
            created_at=now,
        )
        reply = connection.reject_call_message
        if not (call.rejected and reply and not call.is_group):
            return False
        s.add(_reply(connection, chat, contact, reply, call, now))
        return True

    async def _chat(
        self, s: AsyncSession, connection: ConnectionRow, contact: ContactRow, now: datetime
    ) -> ChatRow:
        # One chat per person: a chat opened by the LID before the phone was known is
        # theirs too (the message pipeline re-keys or folds it at the next message).
        names = [j for j in (contact.jid, contact.lid) if j]
        found = (
            await s.scalars(
                select(ChatRow).where(
                    ChatRow.connection_id == connection.id, ChatRow.jid.in_(names)
                )
            )
        ).all()
        chat = min(found, key=lambda c: c.jid != contact.jid, default=None)
        if chat is not None:
            chat.lid = chat.lid or contact.lid
        else:
            chat = ChatRow(
                **new_chat_values(
                    connection.organization_id, connection.id, contact.id, contact.jid, None, now
                ),
            )
            chat.lid = contact.lid
            s.add(chat)
        return chat


def _reply(
    connection: ConnectionRow,
    chat: ChatRow,
    contact: ContactRow,
    text: str,
    call: CallReceived,
    now: datetime,
) -> MessageRow:
    """The connection's reply to a rejected call, queued for the outbox to send."""
    return MessageRow(
        id=new_id(),
        organization_id=connection.organization_id,
        connection_id=connection.id,
        chat_id=chat.id,
        contact_id=contact.id,
        wa_message_id=new_wa_message_id(),
        direction="out",
        chat_jid=chat.jid,
        type=MessageType.TEXT.value,
        status=MessageStatus.QUEUED.value,
        text=text,
        payload={
            "contact_phone": contact.phone,
            "contact_lid": contact.lid,
            "reply_to_call": call.call_id,
        },
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
