"""Which contact a JID is: one contact per person across their phone JID and LID.

WhatsApp may name a customer by a LID (``…@lid``) before their phone number is known,
and by both afterwards. :func:`ensure_contact` keeps them one contact: a contact first
seen by its LID takes the phone JID as its key once it is known, and a duplicate created
meanwhile is folded into it (its chats and messages move over).

It runs inside the caller's transaction. The inbound pipeline and ``POST /messages`` can
race to create the same contact on PostgreSQL, so creation is ``INSERT … ON CONFLICT DO
NOTHING`` followed by a read, never "read, then insert" (which fails the second writer on
the unique key).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.ids import new_id
from zapgate.domain.phones import LID_SERVER, phone_of_jid
from zapgate.store.rows import insert_ignore
from zapgate.store.tables.conversations import ChatRow, ContactRow
from zapgate.store.tables.messages import MessageRow


def is_lid(jid: str | None) -> bool:
    return bool(jid) and str(jid).endswith("@" + LID_SERVER)


def new_contact_values(
    organization_id: str,
    jid: str,
    phone: str | None,
    lid: str | None,
    name: str | None,
    push_name: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Every column of a contact first seen now (nothing the users wrote yet)."""
    return {
        "id": new_id(),
        "organization_id": organization_id,
        "jid": jid,
        "phone": phone,
        "lid": lid,
        "name": name,
        "push_name": push_name,
        "email": None,
        "company": None,
        "tags": [],
        "notes": None,
        "custom_fields": {},
        "on_whatsapp": None,
        "checked_at": None,
        "created_at": now,
        "updated_at": now,
        "blocked": False,
        "is_business": None,
        "picture_media_id": None,
        "picture_id": None,
        "picture_checked_at": None,
    }


async def _by_jid(s: AsyncSession, organization_id: str, jid: str) -> ContactRow | None:
    return await s.scalar(
        select(ContactRow).where(
            ContactRow.organization_id == organization_id, ContactRow.jid == jid
        )
    )


async def ensure_contact(
    s: AsyncSession,
    *,
    organization_id: str,
    jid: str,
    now: datetime,
    lid: str | None = None,
    push_name: str | None = None,
    name: str | None = None,
) -> tuple[ContactRow, bool]:
    """The contact for ``jid`` (a phone JID or a LID), created or updated.

    Returns ``(contact, changed)``. A contact first seen by its LID and later by its
    phone JID stays one contact: its ``jid`` moves to the phone JID and a duplicate
    created meanwhile is folded into it.
    """
    if is_lid(jid) and lid is None:
        lid = jid
    phone = phone_of_jid(jid)
    row = await _by_jid(s, organization_id, jid)
    if row is None and lid:
        row = await s.scalar(
            select(ContactRow).where(
                ContactRow.organization_id == organization_id, ContactRow.lid == lid
            )
        )
    changed = False
    if row is None:
        changed = await insert_ignore(
            s,
            ContactRow,
            {
                "id": new_id(),
                "organization_id": organization_id,
                "jid": jid,
                "phone": phone,
                "lid": lid,
                "push_name": push_name,
                "name": name,
                "tags": [],
                "custom_fields": {},
                "blocked": False,
                "created_at": now,
                "updated_at": now,
            },
        )
        row = await _by_jid(s, organization_id, jid)
        assert row is not None
        if changed:
            return row, True
    if phone and is_lid(row.jid):
        # First known by LID only, now the phone is known: the phone JID is the key.
        duplicate = await _by_jid(s, organization_id, jid)
        if duplicate is not None and duplicate.id != row.id:
            await _fold(s, keep=duplicate, drop=row)
            row = duplicate
        else:
            row.jid = jid
        changed = True
    elif lid and phone:
        lid_only = await _by_jid(s, organization_id, lid)
        if lid_only is not None and lid_only.id != row.id:
            await _fold(s, keep=row, drop=lid_only)
            changed = True
    updates = {
        "phone": phone if phone and row.phone != phone else None,
        "lid": lid if lid and row.lid != lid else None,
        "push_name": push_name if push_name and row.push_name != push_name else None,
        # The CRM name belongs to the users: an engine only fills it when empty.
        "name": name if name and not row.name else None,
    }
    for field, value in updates.items():
        if value is not None:
            setattr(row, field, value)
            changed = True
    if changed:
        row.updated_at = now
        await s.flush()
    return row, changed


async def _fold(s: AsyncSession, *, keep: ContactRow, drop: ContactRow) -> None:
    """Merge ``drop`` into ``keep``: its chats and messages now belong to ``keep``."""
    await s.execute(update(ChatRow).where(ChatRow.contact_id == drop.id).values(contact_id=keep.id))
    await s.execute(
        update(MessageRow).where(MessageRow.contact_id == drop.id).values(contact_id=keep.id)
    )
    keep.lid = keep.lid or drop.lid
    keep.push_name = keep.push_name or drop.push_name
    keep.name = keep.name or drop.name
    keep.tags = sorted(set(keep.tags or []) | set(drop.tags or []))
    keep.custom_fields = {**(drop.custom_fields or {}), **(keep.custom_fields or {})}
    await s.delete(drop)
    await s.flush()
