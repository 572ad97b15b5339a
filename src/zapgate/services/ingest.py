"""The inbound pipeline: what engines report becomes messages, contacts, chats, events.

It is a supervisor listener: ``(organization_id, connection_id, event)`` arrives in
order per connection. Writes are *group-committed*: each call queues its work and waits
for the transaction that carries it, and one flusher writes everything queued meanwhile
in a single transaction. A hundred connections receiving at once then cost a handful of
commits instead of a hundred, which is what lets SQLite's single writer keep up. If a
batch fails, its items are retried one by one so a bad message cannot sink the others.

Media is downloaded at receipt, before the transaction (network I/O never holds the
write lock), into the media store; a failed download keeps the message with the error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.schema import Table

from zapgate.domain.errors import EngineError
from zapgate.domain.events import EventType
from zapgate.domain.ids import new_id
from zapgate.domain.mediatypes import media_type, safe_filename
from zapgate.domain.messages import MessageStatus, MessageType
from zapgate.domain.phones import USER_SERVER
from zapgate.engines.base import Engine
from zapgate.engines.events import (
    ContactInfo,
    EngineEvent,
    GroupInfo,
    HistorySynced,
    InboundMessage,
    MessageReceived,
    ReceiptReceived,
)
from zapgate.events.log import flush_staged, stage_event
from zapgate.services.batchcache import BatchRecords
from zapgate.services.chat_rows import refresh_preview
from zapgate.services.drafts import MessageDraft
from zapgate.services.media import MediaStore, media_row, received_media_type
from zapgate.services.payloads import (
    chat_payload,
    contact_payload,
    message_payload,
    message_preview,
)
from zapgate.store.db import Database
from zapgate.store.groupcommit import GroupCommit
from zapgate.store.rows import insert_ignore
from zapgate.store.tables import (
    ConnectionRow,
    ContactRow,
    GroupRow,
    MediaRow,
    MessageRow,
)
from zapgate.util.clock import Clock

log = logging.getLogger(__name__)

S = MessageStatus
MAX_BATCH = 1024
DOWNLOAD_TIMEOUT = 120.0
_TIMES = {S.DELIVERED: "delivered_at", S.READ: "read_at", S.PLAYED: "played_at"}
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
"""What :func:`_message_values` gives; the other columns of an inbound message are NULL."""
_MESSAGE_NULLS: dict[str, Any] = {
    c.key: None for c in cast(Table, MessageRow.__table__).columns if c.key not in _INBOUND_COLUMNS
}


@dataclass(slots=True)
class _Message:
    message: InboundMessage
    media: MediaRow | None
    media_error: str | None
    history: bool


@dataclass(slots=True)
class _Item:
    organization_id: str
    connection_id: str
    work: _Message | ReceiptReceived | ContactInfo | GroupInfo


class InboundRecorder:
    def __init__(
        self, db: Database, clock: Clock, engine: Engine, media: MediaStore, *, max_media: int
    ) -> None:
        self._db = db
        self._clock = clock
        self._engine = engine
        self._media = media
        self._max_media = max_media
        self._items: GroupCommit[_Item, None] = GroupCommit(
            "ingest", self._write, clock=clock, max_items=MAX_BATCH
        )
        self.stored = 0
        """Messages committed so far (benchmarks and tests watch it)."""

    async def close(self) -> None:
        await self._items.close(timeout=5.0)

    async def __call__(
        self, organization_id: str, connection_id: str, events: Sequence[EngineEvent]
    ) -> None:
        """Record ``events`` of one connection, in order; returns once all are committed."""
        works: list[_Message | ReceiptReceived | ContactInfo | GroupInfo] = []
        for event in events:
            try:
                works.extend(await self._works(connection_id, event))
            except Exception:
                # One event that cannot be prepared (disk full saving its media...) is
                # lost alone, as it would be outside a batch; the others go on.
                log.exception(
                    "failed to prepare engine event",
                    extra={"connection_id": connection_id, "event": type(event).__name__},
                )
        if not works:
            return
        # Wait for every item (a failed one is replayed alone while the others commit),
        # so the runner's next lifecycle event never overtakes this traffic. Items stay
        # queued if the runner is cancelled meanwhile: they were received all the same.
        outcomes = await self._items.submit_many(
            [_Item(organization_id, connection_id, w) for w in works]
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _works(
        self, connection_id: str, event: EngineEvent
    ) -> list[_Message | ReceiptReceived | ContactInfo | GroupInfo]:
        if isinstance(event, MessageReceived):
            return [await self._prepare(connection_id, event.message, history=False)]
        if isinstance(event, HistorySynced):
            return [
                await self._prepare(connection_id, message, history=True)
                for message in event.messages
            ]
        if isinstance(event, ReceiptReceived | ContactInfo | GroupInfo):
            return [event]
        return []

    # ------------------------------------------------------------ media

    async def _prepare(
        self, connection_id: str, message: InboundMessage, *, history: bool
    ) -> _Message:
        ref = message.media
        if ref is None or history:
            return _Message(message, None, None, history)
        if await self._known(connection_id, message.wa_message_id):
            return _Message(message, None, None, history)
        if ref.size is not None and ref.size > self._max_media:
            return _Message(message, None, "media_too_large", history)
        try:
            data = await asyncio.wait_for(
                self._engine.download_media(connection_id, ref), DOWNLOAD_TIMEOUT
            )
        except (EngineError, TimeoutError) as exc:
            code = exc.code if isinstance(exc, EngineError) else "timeout"
            log.warning(
                "incoming media download failed",
                extra={"connection_id": connection_id, "code": code},
            )
            return _Message(message, None, code, history)
        if len(data) > self._max_media:
            # The declared size is only the sender's word, and may be missing: the bytes
            # themselves are held to the limit too. (Engines hand over whole bytes, so this
            # can only refuse to keep them, not stop the download.)
            return _Message(message, None, "media_too_large", history)
        stored = await self._media.save(data)
        row = media_row(
            stored,
            organization_id="",
            mimetype=received_media_type(ref.mimetype, data, ref.filename),
            filename=ref.filename,
            now=self._clock.now(),
        )
        return _Message(message, row, None, history)

    async def _known(self, connection_id: str, wa_message_id: str) -> bool:
        async with self._db.read() as s:
            found = await s.scalar(
                select(MessageRow.id).where(
                    MessageRow.connection_id == connection_id,
                    MessageRow.wa_message_id == wa_message_id,
                )
            )
        return found is not None

    # ------------------------------------------------------------ group commit

    async def _write(self, items: list[_Item]) -> list[None]:
        """All of ``items`` in one transaction (the group commit's batch function)."""
        now = self._clock.now()
        active: set[str] = set()
        inserted = 0
        async with self._db.write(in_loop=True) as s:
            batch = BatchRecords()
            await batch.load(s, **_wanted(items))
            for item in items:
                work = item.work
                if isinstance(work, _Message):
                    if await self._message(s, batch, item, work, now):
                        active.add(item.connection_id)
                        inserted += 1
                elif isinstance(work, ReceiptReceived):
                    await batch.drain(s)
                    await self._receipt(s, batch, item, work, now)
                elif isinstance(work, ContactInfo):
                    await self._contact(s, batch, item, work, now)
                else:
                    await self._group(s, item, work, now)
            await batch.drain(s)
            await flush_staged(s)
            if active:
                await s.execute(
                    update(ConnectionRow)
                    .where(ConnectionRow.id.in_(sorted(active)))
                    .values(last_activity_at=now)
                )
        # Counted after the commit: a batch that fails is replayed and counted once.
        self.stored += inserted
        return [None] * len(items)

    # ------------------------------------------------------------ messages

    async def _message(
        self, s: AsyncSession, batch: BatchRecords, item: _Item, work: _Message, now: datetime
    ) -> bool:
        org, cid, msg = item.organization_id, item.connection_id, work.message
        contact = None
        contact_changed = False
        party = _party_jid(msg)
        if party is not None:
            contact, contact_changed = await batch.contact(
                s,
                organization_id=org,
                jid=party,
                now=now,
                lid=msg.sender_lid if not msg.from_me else None,
                push_name=msg.push_name if not msg.from_me else None,
            )
        group_name = None
        if msg.is_group:
            group_name = await s.scalar(
                select(GroupRow.name).where(
                    GroupRow.connection_id == cid, GroupRow.jid == msg.chat_jid
                )
            )
        chat = batch.chat(
            organization_id=org,
            connection_id=cid,
            jid=msg.chat_jid,
            contact_id=None if msg.is_group or contact is None else contact.id,
            now=now,
            name=group_name,
        )
        values = _message_values(org, cid, chat.id, msg, contact, work, now)
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
                if chat.status == "closed":
                    chat.status = "pending"
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

    async def _receipt(
        self,
        s: AsyncSession,
        batch: BatchRecords,
        item: _Item,
        work: ReceiptReceived,
        now: datetime,
    ) -> None:
        target = work.type.status
        rows = (
            await s.scalars(
                select(MessageRow).where(
                    MessageRow.connection_id == item.connection_id,
                    MessageRow.wa_message_id.in_(list(work.message_ids)),
                    MessageRow.direction == "out",
                )
            )
        ).all()
        for row in rows:
            current = S(row.status)
            # A message requeued after a crash may already have reached the phone.
            base = S.SENDING if current in (S.QUEUED, S.SCHEDULED) else current
            if not base.advances_to(target):
                continue
            row.status = target.value
            row.sent_at = row.sent_at or work.timestamp
            row.next_attempt_at = None
            # ``read`` implies ``delivered``: fill every milestone reached, keep the first.
            for status, field in _TIMES.items():
                if _before(status, target) and getattr(row, field) is None:
                    setattr(row, field, work.timestamp)
            batch.follow_status(row)
            await refresh_preview(s, row)
            stage_event(
                s,
                organization_id=row.organization_id,
                connection_id=row.connection_id,
                type=EventType.MESSAGE_STATUS,
                data=message_payload(row),
                created_at=now,
            )

    async def _contact(
        self, s: AsyncSession, batch: BatchRecords, item: _Item, work: ContactInfo, now: datetime
    ) -> None:
        jid = _contact_jid(work)
        contact, changed = await batch.contact(
            s,
            organization_id=item.organization_id,
            jid=jid,
            now=now,
            lid=work.lid,
            push_name=work.push_name,
            name=work.name,
        )
        if changed:
            stage_event(
                s,
                organization_id=item.organization_id,
                connection_id=item.connection_id,
                type=EventType.CONTACT_UPDATED,
                data=contact_payload(contact),
                created_at=now,
            )

    async def _group(self, s: AsyncSession, item: _Item, work: GroupInfo, now: datetime) -> None:
        participants = [asdict(p) for p in work.participants]
        query = select(GroupRow).where(
            GroupRow.connection_id == item.connection_id, GroupRow.jid == work.jid
        )
        row = await s.scalar(query)
        if row is None:
            await insert_ignore(
                s,
                GroupRow,
                {
                    "id": new_id(),
                    "organization_id": item.organization_id,
                    "connection_id": item.connection_id,
                    "jid": work.jid,
                    "name": work.name,
                    "topic": work.topic,
                    "participants": participants,
                    "updated_at": now,
                },
            )
            return
        row.name, row.topic, row.participants, row.updated_at = (
            work.name,
            work.topic,
            participants,
            now,
        )


def _wanted(items: list[_Item]) -> dict[str, Any]:
    """What :meth:`BatchRecords.load` should read for these items."""
    parties: list[tuple[str, str, str | None]] = []
    chats: list[tuple[str, str]] = []
    messages: list[tuple[str, str]] = []
    for item in items:
        work = item.work
        if isinstance(work, ContactInfo):
            parties.append((item.organization_id, _contact_jid(work), work.lid))
        if not isinstance(work, _Message):
            continue
        msg = work.message
        party = _party_jid(msg)
        if party is not None:
            parties.append((item.organization_id, party, None if msg.from_me else msg.sender_lid))
        chats.append((item.connection_id, msg.chat_jid))
        messages.append((item.connection_id, msg.wa_message_id))
    return {"parties": parties, "chats": chats, "messages": messages}


def _contact_jid(work: ContactInfo) -> str:
    return f"{work.phone}@{USER_SERVER}" if work.phone else work.jid


def _before(a: MessageStatus, b: MessageStatus) -> bool:
    return a is b or a.advances_to(b)


def _party_jid(msg: InboundMessage) -> str | None:
    """The customer this message is about: the sender, or in a 1:1 chat the chat."""
    if msg.is_group:
        if msg.from_me:
            return None
        return f"{msg.sender_phone}@{USER_SERVER}" if msg.sender_phone else msg.sender_jid
    if msg.from_me:
        return msg.chat_jid
    return f"{msg.sender_phone}@{USER_SERVER}" if msg.sender_phone else msg.sender_jid


def _message_values(
    org: str,
    cid: str,
    chat_id: str,
    msg: InboundMessage,
    contact: ContactRow | None,
    work: _Message,
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
        "direction": "out" if msg.from_me else "in",
        "chat_jid": msg.chat_jid,
        "sender_jid": msg.sender_jid,
        "type": MessageType(msg.type).value,
        "status": (S.SENT if msg.from_me else S.RECEIVED).value,
        "text": msg.text if msg.text is not None else msg.caption,
        "media_id": work.media.id if work.media is not None else None,
        "payload": payload,
        "quoted_wa_id": msg.quoted_id,
        "attempts": 0,
        "created_at": now,
        # When WhatsApp says it was sent (by the customer, or from the phone): it can be
        # well before ``created_at`` for messages delivered on reconnecting.
        "sent_at": msg.timestamp,
    }
