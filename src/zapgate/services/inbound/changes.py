"""Edits and deletes for everyone that WhatsApp reports: a customer changed a message
of theirs (or we did, from the phone or another linked device).

A supervisor listener beside the inbound recorder, which has committed the messages of
the same traffic when this runs, so an edit that follows its message in one batch
finds it. The stored message gets the new text (the old one joins the payload's
``edits``) or its ``revoked_at``, and the same ``message.edited`` / ``message.revoked``
events as an edit made through the API. A change to a message we never stored, or to a
message of someone else than its author, is ignored, as WhatsApp's apps ignore it.
Edits and deletes are rare: each batch is one plain transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.events import EventType
from zapgate.domain.messages import Direction
from zapgate.engines.events import EngineEvent, MessageEdited, MessageRevoked
from zapgate.events.log import flush_staged, stage_event
from zapgate.services.chat_rows import refresh_preview
from zapgate.services.fence import LeaseFence
from zapgate.services.message_changes import with_edit
from zapgate.services.payloads import message_payload
from zapgate.store.db import Database
from zapgate.store.tables.messages import MessageRow
from zapgate.util.clock import Clock

log = logging.getLogger(__name__)


def _user(jid: str | None) -> str:
    """The user part of a JID without its device (``5511...:3@s.whatsapp.net`` → digits)."""
    return (jid or "").partition("@")[0].split(":", 1)[0]


def by_its_author(row: MessageRow, event: MessageEdited | MessageRevoked) -> bool:
    """Whether the change comes from whoever wrote ``row``."""
    if event.from_me:
        return row.direction == Direction.OUT
    if row.direction != Direction.IN:
        return False
    if not row.chat_jid.endswith("@g.us"):
        return True  # a 1:1 chat has one other party: the change is theirs
    extra = row.payload or {}
    known = {_user(row.sender_jid), _user(extra.get("contact_lid")), extra.get("contact_phone")}
    return _user(event.sender_jid) in known - {"", None}


def same_chat(row: MessageRow, chat_jid: str) -> bool:
    """Whether ``chat_jid`` names ``row``'s chat: a 1:1 chat is one person's, whether
    WhatsApp addresses it by their phone JID or by their LID."""
    if row.chat_jid == chat_jid:
        return True
    if row.chat_jid.endswith("@g.us") or chat_jid.endswith("@g.us"):
        return False
    extra = row.payload or {}
    known = {_user(row.chat_jid), _user(extra.get("contact_lid")), extra.get("contact_phone")}
    return _user(chat_jid) in known - {"", None}


class MessageChangeRecorder:
    def __init__(self, db: Database, clock: Clock, fence: LeaseFence | None = None) -> None:
        self._db = db
        self._clock = clock
        self._fence = fence or LeaseFence()

    async def __call__(
        self, organization_id: str, connection_id: str, events: Sequence[EngineEvent]
    ) -> None:
        changes = [e for e in events if isinstance(e, MessageEdited | MessageRevoked)]
        if not changes:
            return
        epoch = self._fence.epoch(connection_id)
        async with self._db.write() as s:
            if not await self._fence.holds(s, connection_id, epoch):
                return
            for event in changes:
                await self._apply(s, connection_id, event)
            await flush_staged(s)  # events last: every row of the batch is written

    async def _apply(
        self, s: AsyncSession, connection_id: str, event: MessageEdited | MessageRevoked
    ) -> None:
        row = await s.scalar(
            select(MessageRow).where(
                MessageRow.connection_id == connection_id,
                MessageRow.wa_message_id == event.wa_message_id,
            )
        )
        if row is None or not same_chat(row, event.chat_jid) or not by_its_author(row, event):
            log.info(
                "ignored a %s of message %s: not stored here, or not by its author",
                "revoke" if isinstance(event, MessageRevoked) else "edit",
                event.wa_message_id,
            )
            return
        if row.revoked_at is not None:
            return  # deleted already: nothing changes it any more
        now = self._clock.now()
        if isinstance(event, MessageEdited):
            if row.text == event.text:
                return  # the same edit reported again (a reconnect), or made through us
            row.payload = with_edit(row.payload, row.text, event.timestamp)
            row.text = event.text
            media = (row.payload or {}).get("media")
            if isinstance(media, dict):
                row.payload = {**row.payload, "media": {**media, "caption": event.text}}
            row.edited_at = event.timestamp
            kind = EventType.MESSAGE_EDITED
        else:
            row.revoked_at = event.timestamp
            kind = EventType.MESSAGE_REVOKED
        await s.flush()
        await refresh_preview(s, row)
        stage_event(
            s,
            organization_id=row.organization_id,
            connection_id=row.connection_id,
            type=kind,
            data=message_payload(row),
            created_at=now,
        )
