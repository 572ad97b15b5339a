"""Contacts and chats created on the fly, inside the caller's transaction.

Both the inbound pipeline and ``POST /messages`` create contacts and chats; they can
race on PostgreSQL, so creation is ``INSERT … ON CONFLICT DO NOTHING`` followed by a
read, never "read, then insert" (which fails the second writer on the unique key).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.sql.schema import Table

from zapgate.domain.ids import new_id
from zapgate.domain.phones import LID_SERVER, USER_SERVER, phone_of_jid
from zapgate.store.tables import ChatRow, ContactRow, MessageRow


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


async def insert_ignore(s: AsyncSession, model: type[Any], values: dict[str, Any]) -> bool:
    """Insert one row of ``model`` unless a unique key already holds it; True if inserted."""
    table = _table(model)
    if s.get_bind().dialect.name == "postgresql":
        stmt: Any = postgresql.insert(table).values(**values).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(table).values(**values).on_conflict_do_nothing()
    result = await s.execute(stmt)
    return bool(getattr(result, "rowcount", 0) == 1)


_KEYS: dict[str, tuple[str, ...]] = {}


def _column_keys(model: type[Any]) -> tuple[str, ...]:
    table = _table(model)
    keys = _KEYS.get(table.name)
    if keys is None:
        keys = _KEYS[table.name] = tuple(column.key for column in table.columns)
    return keys


async def insert_new(
    s: AsyncSession, model: type[Any], rows: Sequence[Any], *, attach: bool = True
) -> None:
    """Insert new ``rows`` of ``model`` in one Core statement, then attach them to the
    session as loaded rows, so later changes in the transaction become UPDATEs.

    The unit of work would do the same INSERT at several times the CPU per row (it
    tracks every attribute of every new object). Columns left unset are NULL: Python-side
    column defaults do not apply here.
    """
    if not rows:
        return
    table = _table(model)
    keys = _column_keys(model)
    values = []
    for row in rows:
        found = {key: getattr(row, key) for key in keys}
        for key in keys:
            if key not in row.__dict__:
                # Unset means NULL: say so, or attaching would mark it "not loaded".
                setattr(row, key, None)
        values.append(found)
    await s.execute(insert(table), values)
    if not attach:
        # The caller changes them no further here, and keeps them unsaved objects: a
        # failed transaction can replay them as they are.
        return
    for row in rows:
        make_transient_to_detached(row)
    s.add_all(rows)


def is_lid(jid: str | None) -> bool:
    return bool(jid) and str(jid).endswith("@" + LID_SERVER)


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


async def ensure_chat(
    s: AsyncSession,
    *,
    organization_id: str,
    connection_id: str,
    jid: str,
    contact_id: str | None,
    now: datetime,
    name: str | None = None,
) -> tuple[ChatRow, bool]:
    """The chat of ``connection_id`` with ``jid``; ``(chat, created)``."""
    query = select(ChatRow).where(ChatRow.connection_id == connection_id, ChatRow.jid == jid)
    row = await s.scalar(query)
    if row is not None:
        if contact_id and row.contact_id != contact_id and not row.is_group:
            row.contact_id = contact_id
        return row, False
    created = await insert_ignore(
        s,
        ChatRow,
        {
            "id": new_id(),
            "organization_id": organization_id,
            "connection_id": connection_id,
            "contact_id": contact_id,
            "jid": jid,
            "name": name,
            "is_group": jid.endswith("@g.us"),
            "status": "pending",
            "unread_count": 0,
            "last_message_at": now,
            "created_at": now,
            "updated_at": now,
        },
    )
    row = await s.scalar(query)
    assert row is not None
    return row, created


def phone_jid(phone: str) -> str:
    return f"{phone}@{USER_SERVER}"
