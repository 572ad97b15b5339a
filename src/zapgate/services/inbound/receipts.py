"""Receipts: the status of our outbound messages only moves forward, and every
milestone reached is stamped (``read`` implies ``delivered``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.events import EventType
from zapgate.domain.messages import Direction, MessageStatus
from zapgate.engines.events import ReceiptReceived
from zapgate.events.log import stage_event
from zapgate.services.batchcache import BatchRecords
from zapgate.services.chat_rows import refresh_preview
from zapgate.services.inbound.work import Item
from zapgate.services.payloads import message_payload
from zapgate.store.tables.messages import MessageRow

S = MessageStatus
_TIMES = {S.DELIVERED: "delivered_at", S.READ: "read_at", S.PLAYED: "played_at"}


async def apply_receipt(
    s: AsyncSession, batch: BatchRecords, item: Item, work: ReceiptReceived, now: datetime
) -> None:
    target = work.type.status
    rows = (
        await s.scalars(
            select(MessageRow).where(
                MessageRow.connection_id == item.connection_id,
                MessageRow.wa_message_id.in_(list(work.message_ids)),
                MessageRow.direction == Direction.OUT.value,
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


def _before(a: MessageStatus, b: MessageStatus) -> bool:
    return a is b or a.advances_to(b)
