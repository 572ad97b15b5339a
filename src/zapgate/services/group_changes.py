"""Changes to groups that WhatsApp reports (made by other members) become events.

A supervisor listener beside the inbound recorder: it sees the same traffic, in order,
and keeps only the group changes. They are rare (a member renames a group, someone is
added), so each call is one plain transaction rather than a group commit.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.groups import ParticipantAction
from zapgate.domain.ids import new_id
from zapgate.engines.events import EngineEvent, GroupChanged, GroupMember, GroupParticipantsChanged
from zapgate.engines.group_types import GroupField
from zapgate.events.log import flush_staged
from zapgate.services.fence import LeaseFence
from zapgate.services.group_records import (
    apply_participants,
    find_group,
    group_participants,
    group_updated,
    store_info,
)
from zapgate.store.db import Database
from zapgate.store.rows import insert_ignore
from zapgate.store.tables.connections import ConnectionRow
from zapgate.store.tables.conversations import GroupRow
from zapgate.util.clock import Clock

SOURCE = "whatsapp"


class GroupChangeRecorder:
    def __init__(self, db: Database, clock: Clock, fence: LeaseFence | None = None) -> None:
        self._db = db
        self._clock = clock
        self._fence = fence or LeaseFence()

    async def __call__(
        self, organization_id: str, connection_id: str, events: Sequence[EngineEvent]
    ) -> None:
        changes = [e for e in events if isinstance(e, GroupChanged | GroupParticipantsChanged)]
        if not changes:
            return
        epoch = self._fence.epoch(connection_id)
        async with self._db.write() as s:
            if not await self._fence.holds(s, connection_id, epoch):
                return
            for event in changes:
                if isinstance(event, GroupParticipantsChanged) and event.group is not None:
                    # A group it did not know: stored whole first, so the announcement
                    # carries its name and members.
                    now = self._clock.now()
                    whole = await store_info(s, organization_id, connection_id, event.group, now)
                    await self._participants(s, whole, event)
                    continue
                row = await find_group(s, connection_id, event.jid)
                if row is None:
                    # Not stored yet. Its full description may be being stored at this
                    # moment (a joined group comes with both): whichever insert comes
                    # second keeps the row the first made.
                    await insert_ignore(
                        s,
                        GroupRow,
                        {
                            "id": new_id(),
                            "organization_id": organization_id,
                            "connection_id": connection_id,
                            "jid": event.jid,
                            "name": None,
                            "topic": None,
                            "participants": [],
                            "updated_at": self._clock.now(),
                        },
                    )
                    row = await find_group(s, connection_id, event.jid)
                    assert row is not None  # inserted just now, or by the other writer
                if isinstance(event, GroupChanged):
                    self._changed(s, row, event)
                else:
                    await self._participants(s, row, event)
            # Events last, once every change's row is written: the log's lock is the last
            # lock taken (events/log.py), or a later change's group row, written under
            # it, could deadlock with the inbound recorder (rows, then the log).
            await flush_staged(s)

    def _changed(self, s: AsyncSession, row: GroupRow, event: GroupChanged) -> None:
        field = GroupField(event.field)
        value: str | None = event.value
        if field is GroupField.SUBJECT:
            row.name = event.value
        elif field is GroupField.DESCRIPTION:
            row.topic = event.value
        else:
            # The new picture stays on WhatsApp: ours (if any) is no longer the group's.
            row.picture_media_id = None
            value = None
        row.updated_at = self._clock.now()
        group_updated(
            s,
            row,
            changes={field.value: value},
            by=event.actor,
            source=SOURCE,
            now=self._clock.now(),
        )

    async def _participants(
        self, s: AsyncSession, row: GroupRow, event: GroupParticipantsChanged
    ) -> None:
        action = ParticipantAction(event.action)
        apply_participants(row, action, event.participants)
        row.updated_at = self._clock.now()
        group_participants(
            s,
            row,
            action=action,
            members=event.participants,
            by=event.actor,
            source=SOURCE,
            now=self._clock.now(),
        )
        if action is ParticipantAction.REMOVE and await _about_us(s, row, event.participants):
            await s.delete(row)


async def _about_us(s: AsyncSession, row: GroupRow, members: tuple[GroupMember, ...]) -> bool:
    """Whether this connection's own number is among ``members`` (it was removed)."""
    connection = await s.get(ConnectionRow, row.connection_id)
    if connection is None or not connection.phone:
        return False
    mine = {connection.phone, connection.jid, connection.lid} - {None}
    return any(m.phone in mine or m.jid in mine or m.lid in mine for m in members)
