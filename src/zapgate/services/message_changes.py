"""Editing a message we sent and deleting it for everyone (``POST /messages/{id}/edit``
and ``/revoke``).

A message WhatsApp already has is changed through the engine first (the connection must
be ready), then the row and its event are written in one transaction. A message still
waiting in the outbox never reached WhatsApp: an edit replaces its text before it
leaves (``edited_at`` stays null, as the recipient never sees an edited message) and a
revoke cancels it. One being sent right now answers 409 ``message_sending``: a moment
later it is sent, and can be changed. Earlier texts are kept in the payload's ``edits``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.errors import Conflict, Invalid, NotFound
from zapgate.domain.events import EventType
from zapgate.domain.messages import (
    EDIT_WINDOW,
    REVOKE_WINDOW,
    Direction,
    MessageStatus,
    MessageType,
)
from zapgate.domain.roles import Role
from zapgate.domain.times import iso_utc
from zapgate.events.log import append_event
from zapgate.services.chat_rows import refresh_preview
from zapgate.services.commands import Commands
from zapgate.services.context import Principal
from zapgate.services.payloads import message_payload
from zapgate.services.visibility import message_for
from zapgate.store.db import Database
from zapgate.store.tables.messages import MessageRow
from zapgate.util.clock import Clock

S = MessageStatus
WAITING = (S.QUEUED.value, S.SCHEDULED.value)
MAX_TEXT = 65536


def with_edit(payload: dict[str, Any] | None, old_text: str | None, at: datetime) -> dict[str, Any]:
    """The payload with ``old_text`` added to its ``edits`` (the texts replaced, oldest
    first, each with when it was replaced)."""
    edits = list((payload or {}).get("edits") or [])
    edits.append({"text": old_text, "replaced_at": iso_utc(at)})
    return {**(payload or {}), "edits": edits}


class MessageChanges:
    def __init__(self, db: Database, clock: Clock, commands: Commands) -> None:
        self._db = db
        self._clock = clock
        self._commands = commands

    async def by_whatsapp_id(
        self, principal: Principal, connection_id: str, chat_jid: str, wa_message_id: str
    ) -> str:
        """The id of the message ``wa_message_id`` in ``chat_jid`` on a connection (what
        Evolution's routes name a message by); 404 ``message_not_found`` without one."""
        async with self._db.read() as s:
            found = await s.scalar(
                select(MessageRow.id).where(
                    MessageRow.organization_id == principal.organization_id,
                    MessageRow.connection_id == connection_id,
                    MessageRow.wa_message_id == wa_message_id,
                    MessageRow.chat_jid == chat_jid,
                )
            )
            if found is None:
                raise NotFound("message not found", code="message_not_found")
            return (await message_for(s, principal, found)).id

    async def edit(self, principal: Principal, message_id: str, text: str) -> dict[str, Any]:
        principal.require(Role.AGENT)
        if not text.strip():
            raise Invalid("the new text is empty", code="missing_content")
        if len(text) > MAX_TEXT:
            raise Invalid(f"text is longer than {MAX_TEXT} characters", code="text_too_long")
        async with self._db.read() as s:
            row = await message_for(s, principal, message_id)
        self._check_own(row, "edited")
        if row.type != MessageType.TEXT:
            raise Invalid(
                f"a {row.type} message cannot be edited: only text messages can",
                code="not_editable",
            )
        if row.text == text:
            raise Invalid("the new text is the text it has", code="text_unchanged")
        now = self._clock.now()
        if row.status in WAITING:
            return await self._while_waiting(row, now, text=text)
        self._check_sent(row, now, EDIT_WINDOW, "edit_window_expired", "edited")
        cid = await self._ready_connection(row)
        mentions = tuple(m["jid"] for m in (row.payload or {}).get("mentions") or [])
        await self._commands.engine_call(
            cid, "edit_message", row.chat_jid, row.wa_message_id, text, mentions
        )
        async with self._db.write(in_loop=True) as s:
            # Locked and read afresh: a concurrent edit's history entry is kept.
            fresh = await s.get(MessageRow, row.id, with_for_update=True, populate_existing=True)
            assert fresh is not None
            fresh.payload = with_edit(fresh.payload, fresh.text, now)
            fresh.text = text
            fresh.edited_at = now
            return await self._recorded(s, fresh, EventType.MESSAGE_EDITED, now)

    async def revoke(self, principal: Principal, message_id: str) -> dict[str, Any]:
        principal.require(Role.AGENT)
        async with self._db.read() as s:
            row = await message_for(s, principal, message_id)
        self._check_own(row, "deleted for everyone")
        if row.type in (MessageType.REACTION, MessageType.CALL):
            hint = (
                " (send the reaction again with an empty emoji)" if row.type == "reaction" else ""
            )
            raise Invalid(
                f"a {row.type} cannot be deleted for everyone{hint}", code="not_revocable"
            )
        now = self._clock.now()
        if row.status in WAITING:
            return await self._while_waiting(row, now, text=None)
        self._check_sent(row, now, REVOKE_WINDOW, "revoke_window_expired", "deleted")
        cid = await self._ready_connection(row)
        await self._commands.engine_call(cid, "revoke_message", row.chat_jid, row.wa_message_id)
        async with self._db.write(in_loop=True) as s:
            fresh = await s.get(MessageRow, row.id)
            assert fresh is not None
            fresh.revoked_at = now
            return await self._recorded(s, fresh, EventType.MESSAGE_REVOKED, now)

    # ------------------------------------------------------------ checks

    @staticmethod
    def _check_own(row: MessageRow, what: str) -> None:
        if row.direction != Direction.OUT:
            raise Conflict(
                f"only messages this number sent can be {what}; this one was received",
                code="not_own_message",
            )
        if row.revoked_at is not None:
            raise Conflict("the message was deleted for everyone", code="message_revoked")

    @staticmethod
    def _check_sent(
        row: MessageRow, now: datetime, window: Any, expired_code: str, what: str
    ) -> None:
        if row.status == S.SENDING:
            raise Conflict(
                "the message is being sent right now; try again in a moment",
                code="message_sending",
            )
        if row.status in (S.FAILED, S.CANCELED) or row.sent_at is None:
            raise Conflict(
                f"a {row.status} message never reached WhatsApp", code="message_not_sent"
            )
        if now - row.sent_at > window:
            minutes = int(window.total_seconds() // 60)
            limit = f"{minutes} minutes" if minutes < 120 else f"{minutes // 60} hours"
            raise Conflict(
                f"WhatsApp lets a message be {what} only within {limit} of sending",
                code=expired_code,
                details={
                    "sent_at": iso_utc(row.sent_at),
                    "limit_seconds": int(window.total_seconds()),
                },
            )

    async def _ready_connection(self, row: MessageRow) -> str:
        if row.connection_id is None or not await self._commands.is_ready(row.connection_id):
            raise Conflict("the message's connection is not ready", code="connection_not_ready")
        return row.connection_id

    # ------------------------------------------------------------ writes

    async def _while_waiting(
        self, row: MessageRow, now: datetime, *, text: str | None
    ) -> dict[str, Any]:
        """Edit (``text``) or cancel (a revoke) a message before the outbox sends it."""
        async with self._db.write(in_loop=True) as s:
            # Locked (the send worker's claim skips a locked row) and read afresh: a
            # concurrent edit's history entry is kept, a claim just made is seen.
            fresh = await s.get(MessageRow, row.id, with_for_update=True, populate_existing=True)
            if fresh is None or fresh.status not in WAITING:
                raise Conflict(
                    "the message is being sent right now; try again in a moment",
                    code="message_sending",
                )
            if text is not None:
                fresh.payload = with_edit(fresh.payload, fresh.text, now)
                fresh.text = text
                kind = EventType.MESSAGE_EDITED
            else:
                fresh.status = S.CANCELED.value
                fresh.next_attempt_at = None
                fresh.revoked_at = now
                kind = EventType.MESSAGE_REVOKED
            return await self._recorded(s, fresh, kind, now)

    async def _recorded(
        self, s: AsyncSession, row: MessageRow, kind: EventType, now: datetime
    ) -> dict[str, Any]:
        await s.flush()
        await refresh_preview(s, row)
        payload = message_payload(row)
        await append_event(
            s,
            organization_id=row.organization_id,
            connection_id=row.connection_id,
            type=kind,
            data=payload,
            created_at=now,
        )
        return payload
