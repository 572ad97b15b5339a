"""What the send worker writes: claims, outcomes and recovery, each one transaction.

Every outcome re-reads the row and checks its status, because receipts can race a
send (a ``delivered`` receipt may be stored before the worker records ``sent``) and a
status only ever moves forward.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.events import EventType
from zapgate.domain.messages import Direction, MessageStatus
from zapgate.events.log import flush_staged, stage_event
from zapgate.services.chat_rows import refresh_preview
from zapgate.services.payloads import message_payload
from zapgate.store.db import Database
from zapgate.store.tables.connections import ConnectionRow
from zapgate.store.tables.conversations import ContactRow
from zapgate.store.tables.messages import MessageRow

S = MessageStatus
WAITING = (S.QUEUED.value, S.SCHEDULED.value)

SENT_STATES = (S.SENT.value, S.DELIVERED.value, S.READ.value, S.PLAYED.value)

SHORT_FAIL = 8
"""Most messages failed at once in a short transaction (``Database.write(in_loop=True)``)."""


def _stage(s: AsyncSession, row: MessageRow, type: EventType, now: datetime) -> None:
    """The row's event, written by ``flush_staged`` once every row of the transaction
    is: events come last (``events/log.py``: the log's lock is the last one taken)."""
    stage_event(
        s,
        organization_id=row.organization_id,
        connection_id=row.connection_id,
        type=type,
        data=message_payload(row),
        created_at=now,
    )


class Outcomes:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def recover(
        self,
        now: datetime,
        *,
        resend: bool,
        ids: list[str] | None = None,
        connections: list[str] | None = None,
        busy: Collection[str] = (),
    ) -> int:
        """Messages left ``sending`` by a crash (or by a lane that died; only ``ids``
        then; in a cluster, only those of ``connections``, just taken over): requeued
        with the same id when the engine sends with our ids (``resend``), else failed,
        since a second send could arrive twice. ``busy``: messages this process's own
        lanes are still sending (or recording), left to them."""
        stuck = MessageRow.status == S.SENDING.value
        if ids is not None:
            stuck = and_(stuck, MessageRow.id.in_(ids))
        if connections is not None:
            stuck = and_(stuck, MessageRow.connection_id.in_(connections))
        if busy:
            stuck = and_(stuck, MessageRow.id.not_in(sorted(busy)))
        if not resend:
            async with self._db.read() as s:
                found = list((await s.scalars(select(MessageRow.id).where(stuck))).all())
            failed = await self.fail(
                found,
                code="send_interrupted",
                message="the send was interrupted; not resent, it may have arrived",
                now=now,
            )
            return len(failed)
        async with self._db.write() as s:
            result = await s.execute(
                update(MessageRow)
                .where(stuck)
                .values(status=S.QUEUED.value, next_attempt_at=now)
                .execution_options(synchronize_session=False)
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def sending_ids(self, connections: list[str] | None = None) -> list[str]:
        """Messages in ``sending`` now (in flight, or left so by a failure): at most one
        per connection with a lane, so never many (in a cluster: of ``connections``)."""
        async with self._db.read() as s:
            query = select(MessageRow.id).where(MessageRow.status == S.SENDING.value)
            if connections is not None:
                query = query.where(MessageRow.connection_id.in_(connections))
            return list((await s.scalars(query)).all())

    async def due_connections(self, now: datetime) -> list[str | None]:
        async with self._db.read() as s:
            rows = await s.scalars(
                select(MessageRow.connection_id)
                .where(MessageRow.status.in_(WAITING), MessageRow.next_attempt_at <= now)
                .distinct()
            )
            return list(rows.all())

    async def limits(self, connection_id: str) -> tuple[int | None, int | None]:
        async with self._db.read() as s:
            row = (
                await s.execute(
                    select(ConnectionRow.rate_limit_per_minute, ConnectionRow.daily_cap).where(
                        ConnectionRow.id == connection_id
                    )
                )
            ).first()
        return (row[0], row[1]) if row is not None else (None, None)

    async def sent_since(self, connection_id: str, since: datetime) -> int:
        async with self._db.read() as s:
            value = await s.scalar(
                select(func.count())
                .select_from(MessageRow)
                .where(
                    MessageRow.connection_id == connection_id,
                    MessageRow.direction == Direction.OUT.value,
                    MessageRow.sent_at >= since,
                )
            )
        return int(value or 0)

    async def last_sent(self, connection_id: str, since: datetime) -> datetime | None:
        """The latest ``sent_at`` of the connection's outgoing messages after ``since``."""
        async with self._db.read() as s:
            return await s.scalar(
                select(func.max(MessageRow.sent_at)).where(
                    MessageRow.connection_id == connection_id,
                    MessageRow.direction == Direction.OUT.value,
                    MessageRow.sent_at >= since,
                )
            )

    async def claim(
        self, connection_id: str, now: datetime, *, lease: tuple[str, int] | None = None
    ) -> MessageRow | None:
        """Take the next due message of a connection: ``sending``, one more attempt.

        In a cluster ``lease`` is (this node, its lease epoch): nothing is claimed once
        the lease moved on (the connection row is share-locked meanwhile, so no takeover
        slips in between)."""
        async with self._db.write(in_loop=True) as s:
            if lease is not None:
                holder = (
                    await s.execute(
                        select(ConnectionRow.node_id, ConnectionRow.lease_epoch)
                        .where(ConnectionRow.id == connection_id)
                        .with_for_update(read=True)
                    )
                ).first()
                if holder is None or (holder[0], holder[1]) != lease:
                    return None
            query = (
                select(MessageRow)
                .where(
                    MessageRow.connection_id == connection_id,
                    MessageRow.status.in_(WAITING),
                    MessageRow.next_attempt_at <= now,
                )
                .order_by(MessageRow.next_attempt_at, MessageRow.id)
                .limit(1)
            )
            if not self._db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            row = await s.scalar(query)
            if row is None:
                return None
            row.status = S.SENDING.value
            row.attempts = (row.attempts or 0) + 1
        return row

    async def contact(self, contact_id: str) -> ContactRow | None:
        async with self._db.read() as s:
            return await s.get(ContactRow, contact_id)

    async def remember_check(self, contact_id: str, on_whatsapp: bool, now: datetime) -> None:
        async with self._db.write(in_loop=True) as s:
            await s.execute(
                update(ContactRow)
                .where(ContactRow.id == contact_id)
                .values(on_whatsapp=on_whatsapp, checked_at=now)
            )

    async def sent(
        self, message_id: str, now: datetime, *, wa_message_id: str | None = None
    ) -> MessageRow | None:
        async with self._db.write(in_loop=True) as s:
            row = await s.get(MessageRow, message_id)
            if row is None:
                return None
            if row.connection_id is not None:
                # The connection row first, before the message and chat rows: the
                # recorders that check a lease share-lock it first too (services/fence.py),
                # so the other way round two of them deadlock (docs/events.md).
                await s.execute(
                    update(ConnectionRow)
                    .where(ConnectionRow.id == row.connection_id)
                    .values(last_activity_at=now)
                )
            if wa_message_id and wa_message_id != row.wa_message_id:
                # An engine that picks its own ids: receipts will carry this one.
                row.wa_message_id = wa_message_id
            # ``queued``: taken back while the send was in flight (a recovery's guess);
            # the send went out, so it is sent, not waiting to go again.
            if row.status in (S.SENDING.value, S.QUEUED.value):
                row.status = S.SENT.value
            row.sent_at = row.sent_at or now
            row.error_code = None
            row.error_message = None
            row.next_attempt_at = None
            await refresh_preview(s, row)
            await s.flush()
            _stage(s, row, EventType.MESSAGE_SENT, now)
            await flush_staged(s)
        return row

    async def retry(self, message_id: str, *, at: datetime, code: str, message: str) -> None:
        async with self._db.write(in_loop=True) as s:
            await s.execute(
                update(MessageRow)
                .where(MessageRow.id == message_id, MessageRow.status == S.SENDING.value)
                .values(
                    status=S.QUEUED.value,
                    next_attempt_at=at,
                    error_code=code,
                    error_message=message,
                )
            )

    async def fail(
        self, message_ids: list[str], *, code: str, message: str, now: datetime
    ) -> list[MessageRow]:
        """Fail messages that are still waiting or sending; each gets ``message.failed``."""
        failed: list[MessageRow] = []
        # A few statements per message: short for one message, not for a recovery's
        # hundreds (store/db.py).
        async with self._db.write(in_loop=len(message_ids) <= SHORT_FAIL) as s:
            for message_id in message_ids:
                row = await s.get(MessageRow, message_id)
                if row is None or row.status not in (*WAITING, S.SENDING.value):
                    continue
                row.status = S.FAILED.value
                row.failed_at = now
                row.next_attempt_at = None
                row.error_code = code
                row.error_message = message
                await refresh_preview(s, row)
                await s.flush()
                _stage(s, row, EventType.MESSAGE_FAILED, now)
                failed.append(row)
            await flush_staged(s)
        return failed

    async def waiting_since(
        self, connection_id: str | None, *, before: datetime, now: datetime, limit: int = 500
    ) -> list[str]:
        """Due messages of a connection that have waited since before ``before``."""
        query = select(MessageRow.id, MessageRow.created_at, MessageRow.send_at).where(
            MessageRow.status.in_(WAITING), MessageRow.next_attempt_at <= now
        )
        if connection_id is None:
            query = query.where(MessageRow.connection_id.is_(None))
        else:
            query = query.where(MessageRow.connection_id == connection_id)
        async with self._db.read() as s:
            rows = (await s.execute(query.limit(limit))).all()
        return [r[0] for r in rows if (r[2] or r[1]) < before]


def retry_at(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)
