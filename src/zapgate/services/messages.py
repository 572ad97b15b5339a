"""Sending: ``POST /messages`` validates, stores the message in the outbox and answers;
and a message by id (``GET``, cancel).

Nothing is sent here. The message is committed (status ``queued`` or ``scheduled``,
its WhatsApp id already chosen) and the outbox worker is woken; the 202 goes out only
after the commit, so an accepted message survives any crash that follows. The steps of
an accept live in ``services/sending/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.errors import Conflict, Invalid
from zapgate.domain.events import EventType
from zapgate.domain.ids import new_id
from zapgate.domain.messages import ContactCard, Direction, Location, MessageStatus, MessageType
from zapgate.domain.phones import normalize_phone, normalize_recipient
from zapgate.domain.polls import Poll, checked_poll, poll_payload
from zapgate.domain.roles import Role
from zapgate.engines.base import new_wa_message_id
from zapgate.events.log import append_event
from zapgate.services.chat_rows import refresh_preview
from zapgate.services.context import Principal
from zapgate.services.drafts import MessageDraft
from zapgate.services.media import MediaService
from zapgate.services.payloads import mention_entries, message_payload
from zapgate.services.routing import Router
from zapgate.services.sending.accepts import AcceptWriter
from zapgate.services.sending.content import (
    check_mentions,
    group_members,
    media_content,
    mentioned_phones,
    reaction_content,
    referenced,
    reply_content,
    resolve_media,
)
from zapgate.services.sending.idempotency import prior_message, send_fingerprint
from zapgate.services.sending.requests import MediaInput, check_shape, due
from zapgate.services.templates import TemplateService
from zapgate.services.visibility import check_may_write, message_for
from zapgate.store.db import Database
from zapgate.store.tables.messages import MessageRow
from zapgate.util.clock import Clock

S = MessageStatus


class MessageService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        router: Router,
        media: MediaService,
        templates: TemplateService,
        max_schedule_days: int,
        on_commit: Callable[[str | None], None] = lambda _connection_id: None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._router = router
        self._media = media
        self._templates = templates
        self._max_schedule = timedelta(days=max_schedule_days)
        self.on_commit = on_commit
        """Called after a message is committed (the outbox worker's wake-up)."""
        self._accepts = AcceptWriter(db, clock, router=router)

    async def close(self) -> None:
        await self._accepts.close()

    # ------------------------------------------------------------ reading

    async def _row(self, s: AsyncSession, principal: Principal, message_id: str) -> MessageRow:
        return await message_for(s, principal, message_id)

    async def get(self, principal: Principal, message_id: str) -> dict[str, Any]:
        async with self._db.read() as s:
            return message_payload(await self._row(s, principal, message_id))

    # ------------------------------------------------------------ sending

    async def send(
        self,
        principal: Principal,
        *,
        to: str,
        type: MessageType,
        connection_id: str | None = None,
        text: str | None = None,
        media: MediaInput | None = None,
        location: Location | None = None,
        contact: ContactCard | None = None,
        reaction_to: str | None = None,
        emoji: str | None = None,
        reply_to: str | None = None,
        send_at: datetime | None = None,
        template_id: str | None = None,
        variables: dict[str, Any] | None = None,
        mentions: list[str] | str | None = None,
        idempotency_key: str | None = None,
        poll: Poll | None = None,
    ) -> dict[str, Any]:
        principal.require(Role.AGENT)
        kind = MessageType(type)
        fingerprint = (
            send_fingerprint(
                to=to,
                kind=kind,
                connection_id=connection_id,
                text=text,
                media=media,
                location=location,
                contact=contact,
                reaction_to=reaction_to,
                emoji=emoji,
                reply_to=reply_to,
                send_at=send_at,
                template_id=template_id,
                variables=variables,
                mentions=mentions,
                poll=poll,
            )
            if idempotency_key
            else ""
        )
        if idempotency_key:
            async with self._db.read() as s:
                existing = await prior_message(s, principal, idempotency_key, fingerprint)
            if existing is not None:
                return message_payload(existing)
        check_shape(
            kind,
            text=text,
            media=media,
            location=location,
            contact=contact,
            reaction_to=reaction_to,
            template_id=template_id,
            poll=poll,
        )
        if kind is MessageType.POLL and poll is not None:
            poll = checked_poll(poll.question, poll.options, poll.multiple)
        chat_jid = normalize_recipient(to)
        mentioned: list[str] = []
        if mentions:
            check_mentions(kind, mentions, chat_jid)
            if isinstance(mentions, list):
                mentioned = mentioned_phones(mentions)
        if not principal.sees_all_chats:
            async with self._db.read() as s:
                await check_may_write(s, principal, chat_jid, connection_id)
        now = self._clock.now()
        when = due(send_at, now, max_ahead=self._max_schedule)
        if template_id is not None:
            if kind is not MessageType.TEXT:
                raise Invalid("template_id is for text messages", code="invalid_template_use")
            _, text = await self._templates.render(principal, template_id, variables or {})
        if contact is not None and contact.phone:
            contact = ContactCard(contact.name, normalize_phone(contact.phone), contact.vcard)

        content: dict[str, Any] = {"request_hash": fingerprint} if fingerprint else {}
        if location is not None:
            content["location"] = asdict(location)
        if contact is not None:
            content["contact"] = asdict(contact)
        if mentions == "all":
            async with self._db.read() as s:
                mentioned = await group_members(s, principal, chat_jid, connection_id)
        if mentioned:
            content["mentions"] = mention_entries(mentioned)
        if kind is MessageType.POLL and poll is not None:
            content["poll"] = poll_payload(poll)
            text = poll.question
        media_id: str | None = None
        if kind.has_media and media is not None:
            stored = await resolve_media(self._media, principal, media, kind)
            media_id = stored.id
            content["media"] = media_content(stored, media.caption)
            text = media.caption

        conn_id: str | None = None
        quoted: str | None = None
        # A message that names no connection, reply or reaction is routed by the group
        # commit, in its transaction (``Router.choose_many``): no read of its own.
        if connection_id is not None or reply_to is not None or kind is MessageType.REACTION:
            async with self._db.read() as s:
                if connection_id is not None:
                    conn_id = (
                        await self._router.explicit(s, principal.organization_id, connection_id)
                    ).id
                else:
                    conn_id = await self._router.choose(s, principal.organization_id, chat_jid)
                if reply_to is not None:
                    target = await referenced(s, principal, reply_to, chat_jid, "reply_to")
                    quoted = target.wa_message_id
                    content["reply_to"] = reply_content(target)
                if kind is MessageType.REACTION:
                    assert reaction_to is not None
                    target = await referenced(s, principal, reaction_to, chat_jid, "reaction")
                    content["reaction"] = reaction_content(target, emoji)
        row = MessageDraft(
            id=new_id(),
            organization_id=principal.organization_id,
            connection_id=conn_id,
            wa_message_id=new_wa_message_id(),
            direction=Direction.OUT.value,
            chat_jid=chat_jid,
            type=kind.value,
            status=(S.SCHEDULED if when > now else S.QUEUED).value,
            text=text,
            media_id=media_id,
            payload=content,
            quoted_wa_id=quoted,
            idempotency_key=idempotency_key,
            template_id=template_id,
            created_by=principal.actor_id,
            attempts=0,
            next_attempt_at=when,
            send_at=send_at if when > now else None,
            created_at=now,
        )
        try:
            saved = await self._accepts.commit(principal, row, fingerprint)
        except IntegrityError:
            # Another request with the same Idempotency-Key won the race.
            if not idempotency_key:
                raise
            async with self._db.read() as s:
                existing = await prior_message(s, principal, idempotency_key, fingerprint)
            if existing is None:
                raise
            return message_payload(existing)
        self.on_commit(saved.connection_id)
        return message_payload(saved)

    # ------------------------------------------------------------ cancel

    async def cancel(self, principal: Principal, message_id: str) -> dict[str, Any]:
        principal.require(Role.AGENT)
        now = self._clock.now()
        async with self._db.write(in_loop=True) as s:
            row = await self._row(s, principal, message_id)
            result = await s.execute(
                update(MessageRow)
                .where(
                    MessageRow.id == row.id,
                    MessageRow.status.in_([S.QUEUED.value, S.SCHEDULED.value]),
                )
                .values(status=S.CANCELED.value, next_attempt_at=None)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) != 1:
                raise Conflict(f"a {row.status} message cannot be canceled", code="not_cancelable")
            await s.refresh(row)
            await refresh_preview(s, row)
            payload = message_payload(row)
            await append_event(
                s,
                organization_id=row.organization_id,
                connection_id=row.connection_id,
                type=EventType.MESSAGE_STATUS,
                data=payload,
                created_at=now,
            )
        return payload
