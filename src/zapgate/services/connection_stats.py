"""What a connection has done: the figures of ``GET /connections/{id}/stats``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.messages import SENT_STATUSES, Direction
from zapgate.domain.states import ConnectionState
from zapgate.store.tables.connections import ConnectionRow
from zapgate.store.tables.conversations import ChatRow, GroupRow
from zapgate.store.tables.messages import MessageRow


async def connection_stats(s: AsyncSession, row: ConnectionRow) -> dict[str, Any]:
    """Counts of the connection's chats, contacts, groups and messages, read in ``s``."""
    chats = int(
        await s.scalar(
            select(func.count()).select_from(ChatRow).where(ChatRow.connection_id == row.id)
        )
        or 0
    )
    contacts = int(
        await s.scalar(
            select(func.count(func.distinct(ChatRow.contact_id))).where(
                ChatRow.connection_id == row.id, ChatRow.contact_id.is_not(None)
            )
        )
        or 0
    )
    groups = int(
        await s.scalar(
            select(func.count()).select_from(GroupRow).where(GroupRow.connection_id == row.id)
        )
        or 0
    )
    # "Sent" means WhatsApp took it: queued, failed and canceled ones do not count.
    sent = int(
        await s.scalar(
            select(func.count())
            .select_from(MessageRow)
            .where(
                MessageRow.connection_id == row.id,
                MessageRow.direction == Direction.OUT.value,
                MessageRow.status.in_(SENT_STATUSES),
            )
        )
        or 0
    )
    received = int(
        await s.scalar(
            select(func.count())
            .select_from(MessageRow)
            .where(
                MessageRow.connection_id == row.id,
                MessageRow.direction == Direction.IN.value,
            )
        )
        or 0
    )
    return {
        "contacts": contacts,
        "groups": groups,
        "chats": chats,
        "messages_sent": sent,
        "messages_received": received,
        "connected_since": row.connected_at if row.state == ConnectionState.READY else None,
        "last_activity_at": row.last_activity_at,
    }
