"""Sending: ``POST /messages`` validates, stores the message in the outbox and answers.

Nothing is sent here. The message is committed (status ``queued`` or ``scheduled``,
its WhatsApp id already chosen) and the outbox worker is woken; the 202 goes out only
after the commit, so an accepted message survives any crash that follows.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.schema import Table

from zapgate.domain.errors import Conflict, Forbidden, Invalid, NotFound
from zapgate.domain.events import EventType
from zapgate.domain.ids import is_id, new_id
from zapgate.domain.messages import ContactCard, Direction, Location, MessageStatus, MessageType
from zapgate.domain.phones import is_group_jid, normalize_phone, normalize_recipient
from zapgate.domain.roles import Role
from zapgate.engines.base import new_wa_message_id
from zapgate.events.log import append_event, flush_staged, stage_event
from zapgate.services.batchcache import BatchRecords
from zapgate.services.chat_rows import refresh_preview
from zapgate.services.context import Principal
from zapgate.services.drafts import MessageDraft
from zapgate.services.media import MediaService
from zapgate.services.payloads import (
    chat_payload,
    contact_payload,
    message_payload,
    message_preview,
)
from zapgate.services.routing import Router
from zapgate.services.templates import TemplateService
from zapgate.services.visibility import chat_for
from zapgate.store.db import Database
from zapgate.store.groupcommit import GroupCommit
from zapgate.store.tables import Base, ChatRow, MediaRow, MessageRow
from zapgate.util.clock import Clock

log = logging.getLogger(__name__)

S = MessageStatus
MESSAGES: Table = Base.metadata.tables["messages"]
Accepted = MessageRow | MessageDraft
"""What a send answers with: the message it queued, or the one its key already names."""
# A send_at this far in the past is a client bug, not clock skew.
PAST_TOLERANCE = timedelta(seconds=60)


@dataclass(slots=True)
class _Accept:
    """One accepted message waiting for the group commit that carries it."""

    principal: Principal
    row: MessageDraft
    fingerprint: str


@dataclass(frozen=True, slots=True)
class MediaInput:
    """Exactly one of ``media_id``, ``url``, ``base64``."""

    media_id: str | None = None
    url: str | None = None
    base64: str | None = None
    filename: str | None = None
    mimetype: str | None = None
    caption: str | None = None


def _require(condition: bool, message: str, code: str = "missing_content") -> None:
    if not condition:
        raise Invalid(message, code=code)


def _check_shape(
    kind: MessageType,
    *,
    text: str | None,
    media: MediaInput | None,
    location: Location | None,
    contact: ContactCard | None,
    reaction_to: str | None,
    template_id: str | None,
) -> None:
    if kind is MessageType.STICKER:
        raise Invalid("sending stickers is not supported", code="invalid_type")
    if kind is MessageType.TEXT:
        _require(
            bool(text and text.strip()) or template_id is not None, "a text message needs text"
        )
    elif kind.has_media:
        _require(media is not None, f"a {kind.value} message needs media")
        assert media is not None
        given = [v for v in (media.media_id, media.url, media.base64) if v]
        _require(
            len(given) == 1, "media needs exactly one of media_id, url, base64", "invalid_media"
        )
    elif kind is MessageType.LOCATION:
        _require(location is not None, "a location message needs location")
    elif kind is MessageType.CONTACT:
        _require(contact is not None, "a contact message needs contact")
    elif kind is MessageType.REACTION:
        _require(reaction_to is not None, "a reaction needs reaction.message_id")


def request_hash(values: dict[str, Any]) -> str:
    raw = json.dumps(values, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


class MessageService:
    BATCH = 200
    """Accepted messages written per transaction at most (group commit)."""

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
        # A client that hung up before its message was taken into a group never got
        # its 202: the message is not written (nor sent).
        self._accepts: GroupCommit[_Accept, Accepted] = GroupCommit(
            "accept",
            self._commit_batch,
            clock=clock,
            max_items=self.BATCH,
            withdraw_cancelled=True,
        )

    async def close(self) -> None:
        await self._accepts.close(timeout=5.0)

    # ------------------------------------------------------------ reading

    async def _row(self, s: AsyncSession, principal: Principal, message_id: str) -> MessageRow:
        """A message the caller may see: of its organization and, for an agent, of a chat
        assigned to it or to no one (else 404, as for a message that does not exist)."""
        row = await s.get(MessageRow, message_id) if is_id(message_id) else None
        if row is None or row.organization_id != principal.organization_id:
            raise NotFound("message not found", code="message_not_found")
        if not principal.sees_all_chats:
            try:
                await chat_for(s, principal, row.chat_id or "")
            except NotFound:
                raise NotFound("message not found", code="message_not_found") from None
        return row

    async def get(self, principal: Principal, message_id: str) -> dict[str, Any]:
        async with self._db.read() as s:
            return message_payload(await self._row(s, principal, message_id))

    async def _check_not_assigned_elsewhere(
        self, principal: Principal, chat_jid: str, connection_id: str | None
    ) -> None:
        """An agent writes only where it may read: chats assigned to it or to no one, or
        new ones (replies and reactions are in the same chat, so they are covered)."""
        query = select(ChatRow.id).where(
            ChatRow.organization_id == principal.organization_id,
            ChatRow.jid == chat_jid,
            ChatRow.assignee_id.is_not(None),
            ChatRow.assignee_id != principal.user_id,
        )
        if connection_id is not None:
            query = query.where(ChatRow.connection_id == connection_id)
        async with self._db.read() as s:
            if await s.scalar(query.limit(1)) is not None:
                raise Forbidden(
                    "this conversation is assigned to another agent",
                    code="chat_assigned_elsewhere",
                )

    async def _target(
        self, s: AsyncSession, principal: Principal, ref: str, chat_jid: str, what: str
    ) -> MessageRow:
        """A message referred to by zapgate id or WhatsApp id, in the same chat."""
        clause = MessageRow.wa_message_id == ref
        if is_id(ref):
            clause = or_(MessageRow.id == ref, clause)
        row = await s.scalar(
            select(MessageRow)
            .where(
                MessageRow.organization_id == principal.organization_id,
                MessageRow.chat_jid == chat_jid,
                clause,
            )
            .limit(1)
        )
        if row is None:
            raise Invalid(f"{what} refers to an unknown message", code="unknown_message")
        return row

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
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        principal.require(Role.AGENT)
        kind = MessageType(type)
        # What an Idempotency-Key stands for; only a keyed request needs it.
        fingerprint = (
            request_hash(
                {
                    "to": to,
                    "type": kind.value,
                    "connection_id": connection_id,
                    "text": text,
                    "media": asdict(media) if media else None,
                    "location": asdict(location) if location else None,
                    "contact": asdict(contact) if contact else None,
                    "reaction": [reaction_to, emoji],
                    "reply_to": reply_to,
                    "send_at": send_at,
                    "template_id": template_id,
                    "variables": variables,
                }
            )
            if idempotency_key
            else ""
        )
        if idempotency_key:
            async with self._db.read() as s:
                existing = await self._by_key(s, principal, idempotency_key, fingerprint)
            if existing is not None:
                return message_payload(existing)
        _check_shape(
            kind,
            text=text,
            media=media,
            location=location,
            contact=contact,
            reaction_to=reaction_to,
            template_id=template_id,
        )
        chat_jid = normalize_recipient(to)
        if not principal.sees_all_chats:
            await self._check_not_assigned_elsewhere(principal, chat_jid, connection_id)
        now = self._clock.now()
        due = self._due(send_at, now)
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
        media_id: str | None = None
        if kind.has_media and media is not None:
            stored = await self._resolve_media(principal, media, kind)
            media_id = stored.id
            content["media"] = {
                "media_id": stored.id,
                "mimetype": stored.mimetype,
                "filename": stored.filename,
                "size": stored.size,
                "sha256": stored.sha256,
                "caption": media.caption,
            }
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
                    target = await self._target(s, principal, reply_to, chat_jid, "reply_to")
                    quoted = target.wa_message_id
                    content["reply_to"] = {
                        "id": target.id,
                        "sender_jid": target.sender_jid,
                        "text": target.text,
                    }
                if kind is MessageType.REACTION:
                    assert reaction_to is not None
                    target = await self._target(s, principal, reaction_to, chat_jid, "reaction")
                    content["reaction"] = {
                        "message_id": target.id,
                        "wa_message_id": target.wa_message_id,
                        "emoji": emoji or "",
                        "from_me": target.direction == Direction.OUT,
                        "sender_jid": target.sender_jid,
                    }
        row = MessageDraft(
            id=new_id(),
            organization_id=principal.organization_id,
            connection_id=conn_id,
            wa_message_id=new_wa_message_id(),
            direction=Direction.OUT.value,
            chat_jid=chat_jid,
            type=kind.value,
            status=(S.SCHEDULED if due > now else S.QUEUED).value,
            text=text,
            media_id=media_id,
            payload=content,
            quoted_wa_id=quoted,
            idempotency_key=idempotency_key,
            template_id=template_id,
            created_by=principal.actor_id,
            attempts=0,
            next_attempt_at=due,
            send_at=send_at if due > now else None,
            created_at=now,
        )
        try:
            saved = await self._commit(principal, row, fingerprint)
        except IntegrityError:
            # Another request with the same Idempotency-Key won the race.
            if not idempotency_key:
                raise
            async with self._db.read() as s:
                existing = await self._by_key(s, principal, idempotency_key, fingerprint)
            if existing is None:
                raise
            return message_payload(existing)
        self.on_commit(saved.connection_id)
        return message_payload(saved)

    def _due(self, send_at: datetime | None, now: datetime) -> datetime:
        if send_at is None:
            return now
        if send_at.tzinfo is None:
            raise Invalid("send_at needs a timezone (e.g. Z or +00:00)", code="invalid_send_at")
        if send_at < now - PAST_TOLERANCE:
            raise Invalid("send_at is in the past", code="send_at_in_past")
        if send_at > now + self._max_schedule:
            raise Invalid(
                f"send_at is more than {self._max_schedule.days} days ahead",
                code="send_at_too_far",
            )
        return max(send_at, now)

    async def _resolve_media(
        self, principal: Principal, media: MediaInput, kind: MessageType
    ) -> MediaRow:
        if media.media_id:
            stored = await self._media.get(principal, media.media_id)
            self._media.check_size(stored.size, kind)
            return stored
        if media.url:
            return await self._media.from_url(
                principal, media.url, mimetype=media.mimetype, filename=media.filename, kind=kind
            )
        assert media.base64 is not None
        return await self._media.from_base64(
            principal, media.base64, mimetype=media.mimetype, filename=media.filename, kind=kind
        )

    async def _by_key(
        self, s: AsyncSession, principal: Principal, key: str, fingerprint: str
    ) -> MessageRow | None:
        row = await s.scalar(
            select(MessageRow).where(
                MessageRow.organization_id == principal.organization_id,
                MessageRow.idempotency_key == key,
            )
        )
        if row is not None and (row.payload or {}).get("request_hash") != fingerprint:
            raise Conflict(
                "this Idempotency-Key was used for a different request",
                code="idempotency_key_reused",
            )
        return row

    # ------------------------------------------------------------ group commit

    async def _commit(self, principal: Principal, row: MessageDraft, fingerprint: str) -> Accepted:
        """Commit ``row`` (or answer the message its Idempotency-Key already names).

        Group commit: concurrent requests queue here and one flusher writes everything
        queued meanwhile in one transaction (:meth:`_commit_batch`); each caller resumes
        after the commit that carries its row. A failing batch is replayed message by
        message through the same method, so one bad request cannot fail the others.
        """
        return await self._accepts.submit(_Accept(principal, row, fingerprint))

    async def _commit_batch(self, batch: list[_Accept]) -> list[Accepted | Exception]:
        """All of ``batch`` in one transaction, with contacts and chats read in two
        queries and messages and events in one INSERT each; one answer per message."""
        results: list[Accepted | Exception | None] = [None] * len(batch)
        async with self._db.write(in_loop=True) as s:
            todo: list[tuple[int, _Accept]] = []
            for index, accept in enumerate(batch):
                key = accept.row.idempotency_key
                if key:
                    try:
                        prior = await self._by_key(s, accept.principal, key, accept.fingerprint)
                    except Conflict as exc:
                        results[index] = exc
                        continue
                    if prior is not None:
                        results[index] = prior
                        continue
                todo.append((index, accept))
            todo = await self._route(s, todo, results)
            # The same Idempotency-Key twice in one batch: the first one wins.
            keyed: dict[tuple[str, str], MessageDraft] = {}
            unique: list[tuple[int, _Accept]] = []
            for index, accept in todo:
                key = accept.row.idempotency_key
                if key:
                    first = keyed.setdefault((accept.principal.organization_id, key), accept.row)
                    if first is not accept.row:
                        if (first.payload or {}).get("request_hash") != accept.fingerprint:
                            results[index] = Conflict(
                                "this Idempotency-Key was used for a different request",
                                code="idempotency_key_reused",
                            )
                        else:
                            results[index] = first
                        continue
                unique.append((index, accept))
            todo = unique
            records = BatchRecords()
            await records.load(
                s,
                parties=[
                    (a.principal.organization_id, a.row.chat_jid, None)
                    for _, a in todo
                    if not is_group_jid(a.row.chat_jid)
                ],
                chats=[(a.row.connection_id or "", a.row.chat_jid) for _, a in todo],
            )
            for index, accept in todo:
                await self._stage(s, records, accept.principal, accept.row)
                results[index] = accept.row
            await records.drain(s)
            if todo:
                await s.execute(insert(MESSAGES), [accept.row.values() for _, accept in todo])
            await flush_staged(s)
        return [r if r is not None else RuntimeError("not written") for r in results]

    async def _route(
        self,
        s: AsyncSession,
        todo: list[tuple[int, _Accept]],
        results: list[Accepted | Exception | None],
    ) -> list[tuple[int, _Accept]]:
        """Give a connection to the messages that name none; drop those that get none
        (their answer is the router's error)."""
        groups: dict[str, list[_Accept]] = {}
        for _, accept in todo:
            if accept.row.connection_id is None:
                groups.setdefault(accept.principal.organization_id, []).append(accept)
        failed: dict[int, Conflict] = {}
        for org, accepts in groups.items():
            routes = await self._router.choose_many(s, org, [a.row.chat_jid for a in accepts])
            for accept, route in zip(accepts, routes, strict=True):
                if isinstance(route, Conflict):
                    failed[id(accept)] = route
                else:
                    accept.row.connection_id = route
        kept: list[tuple[int, _Accept]] = []
        for index, accept in todo:
            error = failed.get(id(accept))
            if error is None:
                kept.append((index, accept))
            else:
                results[index] = error
        return kept

    async def _stage(
        self, s: AsyncSession, records: BatchRecords, principal: Principal, row: MessageDraft
    ) -> None:
        """Contact, chat and events of one message of a batch (the row is added later)."""
        now = row.created_at
        org = principal.organization_id
        contact_id: str | None = None
        if not is_group_jid(row.chat_jid):
            contact, changed = await records.contact(
                s, organization_id=org, jid=row.chat_jid, now=now
            )
            contact_id = contact.id
            row.payload = {
                **row.payload,
                "contact_phone": contact.phone,
                "contact_lid": contact.lid,
            }
            if changed:
                stage_event(
                    s,
                    organization_id=org,
                    connection_id=row.connection_id,
                    type=EventType.CONTACT_UPDATED,
                    data=contact_payload(contact),
                    created_at=now,
                )
        assert row.connection_id is not None
        chat = records.chat(
            organization_id=org,
            connection_id=row.connection_id,
            jid=row.chat_jid,
            contact_id=contact_id,
            now=now,
        )
        row.chat_id = chat.id
        row.contact_id = contact_id
        if row.type != MessageType.REACTION:
            chat.last_message = message_preview(row)
            chat.last_message_at = now
            chat.updated_at = now
            stage_event(
                s,
                organization_id=org,
                connection_id=row.connection_id,
                type=EventType.CHAT_UPDATED,
                data=chat_payload(chat),
                created_at=now,
            )

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


