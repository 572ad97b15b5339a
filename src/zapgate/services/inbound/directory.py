"""What engines tell of a connection's contacts (names, LIDs) and groups (name, topic,
participants), kept as they report it."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.events import EventType
from zapgate.domain.ids import new_id
from zapgate.engines.events import ContactInfo, GroupInfo
from zapgate.events.log import stage_event
from zapgate.services.batchcache import BatchRecords
from zapgate.services.inbound.work import Item, contact_jid
from zapgate.services.payloads import contact_payload
from zapgate.store.rows import insert_ignore
from zapgate.store.tables.conversations import GroupRow


async def record_contact(
    s: AsyncSession, batch: BatchRecords, item: Item, work: ContactInfo, now: datetime
) -> None:
    contact, changed = await batch.contact(
        s,
        organization_id=item.organization_id,
        jid=contact_jid(work),
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


async def record_group(s: AsyncSession, item: Item, work: GroupInfo, now: datetime) -> None:
    participants = [asdict(p) for p in work.participants]
    query = select(GroupRow).where(
        GroupRow.connection_id == item.connection_id, GroupRow.jid == work.jid
    )
    row = await s.scalar(query)
    if row is None:
        inserted = await insert_ignore(
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
        if inserted:
            return
        # Stored meanwhile by a change about it (``group_changes``: a joined group comes
        # with both), with what that change knew: the full description wins.
        row = await s.scalar(query)
        if row is None:
            return
    row.name, row.topic, row.participants, row.updated_at = (
        work.name,
        work.topic,
        participants,
        now,
    )
