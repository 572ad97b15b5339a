"""Stored groups and their events: shared by the group use cases (changes made through
the API) and the recorder of changes WhatsApp reports (made by other members).

A group's row is refreshed from what the engine answers after an operation; a change
reported by WhatsApp is a delta and is applied to the stored participants as such.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.events import EventType
from zapgate.domain.groups import ParticipantAction
from zapgate.domain.ids import new_id
from zapgate.domain.times import iso_utc
from zapgate.engines.events import GroupInfo, GroupMember
from zapgate.events.log import stage_event
from zapgate.store.rows import insert_ignore
from zapgate.store.tables.conversations import GroupRow

MEDIA_URL = "/api/v1/media/{}"
"""Where the API serves a stored file: a group's picture is answered as that URL."""


def member_payload(member: GroupMember | None) -> dict[str, Any] | None:
    if member is None:
        return None
    return {"jid": member.jid, "phone": member.phone, "lid": member.lid}


def group_detail(row: GroupRow) -> dict[str, Any]:
    """A group as ``GET /connections/{id}/groups/{jid}`` answers it."""
    return {
        "id": row.id,
        "connection_id": row.connection_id,
        "jid": row.jid,
        "subject": row.name,
        "description": row.topic,
        "picture": MEDIA_URL.format(row.picture_media_id) if row.picture_media_id else None,
        "participants": [_participant(p) for p in row.participants or []],
        "updated_at": iso_utc(row.updated_at),
    }


def _participant(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "phone": raw.get("phone"),
        "jid": raw.get("jid"),
        "lid": raw.get("lid"),
        "is_admin": bool(raw.get("is_admin")),
        "is_super_admin": bool(raw.get("is_super_admin")),
    }


async def find_group(s: AsyncSession, connection_id: str, jid: str) -> GroupRow | None:
    row: GroupRow | None = await s.scalar(
        select(GroupRow).where(GroupRow.connection_id == connection_id, GroupRow.jid == jid)
    )
    return row


async def store_info(
    s: AsyncSession, organization_id: str, connection_id: str, info: GroupInfo, now: datetime
) -> GroupRow:
    """Insert or refresh the group from a full description of it."""
    participants = [
        {
            "jid": p.jid,
            "phone": p.phone,
            "lid": p.lid,
            "is_admin": p.is_admin,
            "is_super_admin": p.is_super_admin,
        }
        for p in info.participants
    ]
    row = await find_group(s, connection_id, info.jid)
    if row is None:
        await insert_ignore(
            s,
            GroupRow,
            {
                "id": new_id(),
                "organization_id": organization_id,
                "connection_id": connection_id,
                "jid": info.jid,
                "name": info.name,
                "topic": info.topic,
                "participants": participants,
                "updated_at": now,
            },
        )
        row = await find_group(s, connection_id, info.jid)
        assert row is not None  # inserted just now, or by a concurrent refresh
        return row
    row.name, row.topic, row.participants, row.updated_at = (
        info.name,
        info.topic,
        participants,
        now,
    )
    return row


def _same(raw: dict[str, Any], member: GroupMember) -> bool:
    return any(
        value is not None and value in (raw.get("jid"), raw.get("phone"), raw.get("lid"))
        for value in (member.jid, member.phone, member.lid)
    )


def apply_participants(
    row: GroupRow, action: ParticipantAction, members: tuple[GroupMember, ...]
) -> None:
    """Apply a reported delta to the stored participants (idempotent: a refresh of the
    full group may already hold it)."""
    current = [dict(p) for p in row.participants or []]
    for member in members:
        known = [p for p in current if _same(p, member)]
        if action is ParticipantAction.ADD and not known:
            current.append(
                {
                    "jid": member.jid,
                    "phone": member.phone,
                    "lid": member.lid,
                    "is_admin": False,
                    "is_super_admin": False,
                }
            )
        elif action is ParticipantAction.ADD:
            # Listed already (a newer full description came first): keep its roles,
            # fill in an address it lacked.
            for p in known:
                p["phone"] = p.get("phone") or member.phone
                p["lid"] = p.get("lid") or member.lid
        elif action is ParticipantAction.REMOVE:
            current = [p for p in current if not _same(p, member)]
        else:
            for p in known:
                p["is_admin"] = action is ParticipantAction.PROMOTE
                p["is_super_admin"] = bool(p.get("is_super_admin")) and p["is_admin"]
    row.participants = current


async def forget_group(s: AsyncSession, connection_id: str, jid: str) -> None:
    """The number left (or was removed from) the group: it is no longer listed."""
    await s.execute(
        delete(GroupRow).where(GroupRow.connection_id == connection_id, GroupRow.jid == jid)
    )


def group_updated(
    s: AsyncSession,
    row: GroupRow,
    *,
    changes: dict[str, str | None],
    by: GroupMember | None,
    source: str,
    now: datetime,
) -> None:
    """Stage ``group.updated`` with the group as it is now; the caller writes its rows,
    then ``flush_staged``: the event log's lock is the last one taken (events/log.py)."""
    stage_event(
        s,
        organization_id=row.organization_id,
        connection_id=row.connection_id,
        type=EventType.GROUP_UPDATED,
        data={
            "group": group_detail(row),
            "changes": changes,
            "by": member_payload(by),
            "source": source,
        },
        created_at=now,
    )


def group_participants(
    s: AsyncSession,
    row: GroupRow,
    *,
    action: ParticipantAction,
    members: tuple[GroupMember, ...],
    by: GroupMember | None,
    source: str,
    now: datetime,
) -> None:
    """Stage ``group.participants`` with the group as it is now (as :func:`group_updated`)."""
    stage_event(
        s,
        organization_id=row.organization_id,
        connection_id=row.connection_id,
        type=EventType.GROUP_PARTICIPANTS,
        data={
            "group": group_detail(row),
            "action": ParticipantAction(action).value,
            "participants": [member_payload(m) for m in members],
            "by": member_payload(by),
            "source": source,
        },
        created_at=now,
    )
