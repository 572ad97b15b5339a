"""Contacts and chats created on the fly, inside the caller's transaction.

Both the inbound pipeline and ``POST /messages`` create contacts and chats; they can
race on PostgreSQL, so creation is ``INSERT … ON CONFLICT DO NOTHING`` followed by a
read, never "read, then insert" (which fails the second writer on the unique key).

Group commits use :class:`BatchRecords` instead: the contacts and chats of a whole
batch loaded in a few queries, kept current in memory, written by Core statements.
A concurrent writer's duplicate then fails the batch, which its caller replays item by
item (each item then goes through the functions above when it must).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import (
    Column,
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    any_,
    bindparam,
    func,
    insert,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.instrumentation import ClassManager
from sqlalchemy.sql.schema import Table

from zapgate.domain.ids import new_id
from zapgate.domain.phones import LID_SERVER, USER_SERVER, phone_of_jid
from zapgate.services.payloads import message_preview
from zapgate.store.db import json_text
from zapgate.store.tables import Base, ChatRow, ContactRow, MessageRow

_R = TypeVar("_R", bound=Base)


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


_MANAGERS: dict[type[Any], ClassManager[Any]] = {}


def new_row(model: type[_R], values: dict[str, Any]) -> _R:
    """An unsaved ``model`` object holding ``values`` (give every column), built the
    way the ORM builds the rows it loads.

    The mapped constructor runs an attribute event per column (~20 µs for a chat); this
    costs ~1.5 µs. Later changes are ordinary attribute sets. Such rows are written by
    Core statements (:func:`insert_new`, :class:`BatchRecords`), not the unit of work.
    """
    manager: ClassManager[Any] | None = _MANAGERS.get(model)
    if manager is None:
        manager = _MANAGERS[model] = inspect(model).class_manager
    row = cast(_R, manager.new_instance())
    row.__dict__.update(values)
    return row


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
        s, ChatRow, new_chat_values(organization_id, connection_id, contact_id, jid, name, now)
    )
    row = await s.scalar(query)
    assert row is not None
    return row, created


async def refresh_preview(s: AsyncSession, row: MessageRow) -> None:
    """Keep the chat's ``last_message`` status in step with ``row`` when it is that message
    (a status change after the chat moved on leaves the newer preview alone)."""
    if row.chat_id is None:
        return
    chat = await s.get(ChatRow, row.chat_id)
    if chat is not None and (chat.last_message or {}).get("id") == row.id:
        chat.last_message = message_preview(row)


def new_chat_values(
    organization_id: str,
    connection_id: str,
    contact_id: str | None,
    jid: str,
    name: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Every column of a chat opened now (pending, nothing unread, no last message)."""
    return {
        "id": new_id(),
        "organization_id": organization_id,
        "connection_id": connection_id,
        "contact_id": contact_id,
        "jid": jid,
        "name": name,
        "is_group": jid.endswith("@g.us"),
        "status": "pending",
        "assignee_id": None,
        "unread_count": 0,
        "last_message": None,
        "last_message_at": now,
        "created_at": now,
        "updated_at": now,
    }


def phone_jid(phone: str) -> str:
    return f"{phone}@{USER_SERVER}"


_CONTACTS = _table(ContactRow)
_CHATS = _table(ChatRow)
_MESSAGES = _table(MessageRow)
_CONTACT_KEYS = tuple(c.key for c in _CONTACTS.columns)
_CHAT_KEYS = tuple(c.key for c in _CHATS.columns)

# One statement for every chat of a batch that existed before it (executemany). The
# unread count is added to and the status only written when the batch changed it, so
# an agent's "mark read" or "close" committed since the batch loaded the chat stands.
_UPDATE_CHAT = (
    update(_CHATS)
    .where(_CHATS.c.id == bindparam("b_id"))
    .values(
        contact_id=bindparam("b_contact_id"),
        status=func.coalesce(bindparam("b_status", type_=String()), _CHATS.c.status),
        unread_count=_CHATS.c.unread_count + bindparam("b_unread", type_=Integer()),
        last_message=bindparam("b_last_message"),
        last_message_at=bindparam("b_last_message_at"),
        updated_at=bindparam("b_updated_at"),
    )
)


def one_of(s: AsyncSession, column: Column[Any], values: Iterable[str]) -> ColumnElement[bool]:
    """``column IN values`` with the values as one parameter: the SQL does not change
    with their number, so it is compiled once and, on PostgreSQL, prepared once (an
    ``IN`` list of 500 values cost more to render than to run)."""
    wanted = sorted(set(values))
    if s.get_bind().dialect.name != "sqlite":
        return column == any_(bindparam(None, wanted, type_=ARRAY(String())))
    given = func.json_each(bindparam(None, json_text(wanted), type_=String()))
    return column.in_(select(given.table_valued("value").c.value))


def by_pairs(
    s: AsyncSession,
    columns: Iterable[ColumnElement[Any]],
    first: Column[Any],
    second: Column[Any],
    pairs: Iterable[tuple[str, str]],
) -> Select[Any]:
    """``SELECT columns`` of the rows whose ``(first, second)`` is one of ``pairs``, by
    a unique index on the two columns: a join with the pairs given as one parameter
    (JSON on SQLite, two arrays on PostgreSQL), one index seek per pair.

    Not ``first IN (…) AND second IN (…)``: that is the cross product (a batch over 100
    connections and 250 customers probes 25,000 keys, and once every connection talks
    to most customers, returns most of them). Nor a row-value ``IN (VALUES …)``, which
    SQLite answers by scanning the whole table.
    """
    wanted = sorted(set(pairs))
    table = first.table
    if s.get_bind().dialect.name != "sqlite":
        arrays = (
            bindparam(None, [a for a, _ in wanted], type_=ARRAY(String())),
            bindparam(None, [b for _, b in wanted], type_=ARRAY(String())),
        )
        given = func.unnest(*arrays).table_valued("first", "second").render_derived("wanted")
        on = and_(first == given.c.first, second == given.c.second)
    else:
        pair = func.json_each(bindparam(None, json_text(wanted), type_=String()))
        given = pair.table_valued("value").alias("wanted")
        on = and_(
            first == func.json_extract(given.c.value, "$[0]"),
            second == func.json_extract(given.c.value, "$[1]"),
        )
    return select(*columns).select_from(given).join(table, on)


class BatchRecords:
    """Contacts, chats and message keys of one group-committed transaction.

    Loaded in a few queries for the whole batch, then kept current by the batch itself,
    so most items need no statement of their own. It answers only when the answer is
    exactly what ``ensure_contact``/``ensure_chat`` would give (same rows, same
    ``changed``); anything else (a LID-only party, a merge, a new name) goes through
    those functions, after which the contact maps are no longer trusted (``stale``).

    The rows it hands out are unsaved objects (:func:`new_row`), never in the session:
    :meth:`drain` writes new contacts and chats with multi-row INSERTs, the chats
    handed out since the last drain with one UPDATE, then the queued messages. A caller
    may change a chat it got from :meth:`chat` (last message, unread count, status)
    until the next drain.
    """

    def __init__(self) -> None:
        self.contacts: dict[str, dict[str, ContactRow]] = {}
        """Per organization, by jid."""
        self.lids: dict[str, dict[str, ContactRow]] = {}
        """Per organization, by lid."""
        self.chats: dict[tuple[str, str], ChatRow] = {}
        self.known: set[tuple[str, str]] = set()
        self.messages: list[dict[str, Any]] = []
        self.stale = False
        self._new_contacts: list[ContactRow] = []
        self._new_chats: dict[str, ChatRow] = {}
        """Created since the last drain, by id."""
        self._touched: dict[str, ChatRow] = {}
        """Stored chats handed out since the last drain, by id."""
        self._stored: dict[str, tuple[int, str]] = {}
        """Unread count and status of each stored chat as this transaction wrote it."""

    async def load(
        self,
        s: AsyncSession,
        *,
        parties: Iterable[tuple[str, str, str | None]] = (),
        chats: Iterable[tuple[str, str]] = (),
        messages: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Load the contacts of ``(organization_id, jid, lid)``, the chats of
        ``(connection_id, jid)`` and which ``(connection_id, wa_message_id)`` exist."""
        wanted: dict[str, set[str]] = {}
        lids: dict[str, set[str]] = {}
        for org, jid, lid in parties:
            wanted.setdefault(org, set()).add(jid)
            self.contacts.setdefault(org, {})
            self.lids.setdefault(org, {})
            if lid:
                wanted[org].add(lid)
                lids.setdefault(org, set()).add(lid)
        for org, jids in wanted.items():
            clause = one_of(s, _CONTACTS.c.jid, jids)
            if lids.get(org):
                clause = or_(clause, one_of(s, _CONTACTS.c.lid, lids[org]))
            found = await s.execute(
                select(*_CONTACTS.columns).where(_CONTACTS.c.organization_id == org, clause)
            )
            for values in found.all():
                row = new_row(ContactRow, dict(zip(_CONTACT_KEYS, values, strict=True)))
                self.contacts[org][row.jid] = row
                if row.lid:
                    self.lids[org].setdefault(row.lid, row)
        pairs = set(chats)
        if pairs:
            found_chats = await s.execute(
                by_pairs(s, _CHATS.columns, _CHATS.c.connection_id, _CHATS.c.jid, pairs)
            )
            for values in found_chats.all():
                chat = new_row(ChatRow, dict(zip(_CHAT_KEYS, values, strict=True)))
                if chat.connection_id is not None:
                    self.chats[(chat.connection_id, chat.jid)] = chat
                    self._stored[chat.id] = (chat.unread_count, chat.status)
        keys = set(messages)
        if keys:
            key = (_MESSAGES.c.connection_id, _MESSAGES.c.wa_message_id)
            rows = await s.execute(by_pairs(s, key, *key, keys))
            self.known.update((c, w) for c, w in rows.all() if c is not None and w is not None)

    async def contact(
        self,
        s: AsyncSession,
        *,
        organization_id: str,
        jid: str,
        now: datetime,
        lid: str | None = None,
        push_name: str | None = None,
        name: str | None = None,
    ) -> tuple[ContactRow, bool]:
        """``ensure_contact`` with the batch's maps: no statement when nothing changes."""
        found = (
            None if self.stale else self._contact(organization_id, jid, now, lid, push_name, name)
        )
        if found is not None:
            return found
        await self.drain(s)
        self.stale = True
        return await ensure_contact(
            s,
            organization_id=organization_id,
            jid=jid,
            now=now,
            lid=lid,
            push_name=push_name,
            name=name,
        )

    def _contact(
        self,
        org: str,
        jid: str,
        now: datetime,
        lid: str | None,
        push_name: str | None,
        name: str | None,
    ) -> tuple[ContactRow, bool] | None:
        phone = phone_of_jid(jid)
        jids = self.contacts.get(org)
        lids = self.lids.get(org)
        if phone is None or is_lid(jid) or jids is None or lids is None:
            return None
        row = jids.get(jid)
        if row is not None:
            if row.phone != phone or (push_name and row.push_name != push_name):
                return None
            if name and not row.name:
                return None
            if lid:
                other = jids.get(lid)
                if row.lid != lid or (other is not None and other.id != row.id):
                    return None
            return row, False
        if lid and (lid in lids or lid in jids):
            return None
        row = new_row(
            ContactRow,
            {
                "id": new_id(),
                "organization_id": org,
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
            },
        )
        self._new_contacts.append(row)
        jids[jid] = row
        if lid:
            lids[lid] = row
        return row, True

    def chat(
        self,
        *,
        organization_id: str,
        connection_id: str,
        jid: str,
        contact_id: str | None,
        now: datetime,
        name: str | None = None,
    ) -> ChatRow:
        """``ensure_chat`` with the batch's map of loaded and created chats."""
        key = (connection_id, jid)
        row = self.chats.get(key)
        if row is None:
            row = new_row(
                ChatRow,
                new_chat_values(organization_id, connection_id, contact_id, jid, name, now),
            )
            self._new_chats[row.id] = row
            self.chats[key] = row
            return row
        if contact_id and row.contact_id != contact_id and not row.is_group:
            row.contact_id = contact_id
        if row.id not in self._new_chats:
            self._touched[row.id] = row
        return row

    def add_message(self, values: dict[str, Any]) -> bool:
        """Queue a message row for :meth:`drain`; False if its WhatsApp id is stored.

        Columns left out are NULL (or their Python default); rows with the same keys
        share one INSERT."""
        key = (values["connection_id"], values["wa_message_id"])
        if key in self.known:
            return False
        self.known.add(key)
        self.messages.append(values)
        return True

    def follow_status(self, row: MessageRow) -> None:
        """Keep a loaded chat's preview in step with ``row``'s new status, so a later
        write of that chat by this batch does not put the old status back (the stored
        row is updated by :func:`refresh_preview`)."""
        if row.connection_id is None:
            return
        chat = self.chats.get((row.connection_id, row.chat_jid))
        if chat is not None and (chat.last_message or {}).get("id") == row.id:
            chat.last_message = message_preview(row)

    async def drain(self, s: AsyncSession) -> None:
        """Write the new contacts, the new and changed chats, the session's other
        pending rows, then the queued messages (in that order: foreign keys)."""
        if self._new_contacts:
            contacts, self._new_contacts = self._new_contacts, []
            await insert_new(s, ContactRow, contacts, attach=False)
        if self._new_chats:
            chats, self._new_chats = list(self._new_chats.values()), {}
            await insert_new(s, ChatRow, chats, attach=False)
            for chat in chats:
                self._stored[chat.id] = (chat.unread_count, chat.status)
        if self._touched:
            touched, self._touched = list(self._touched.values()), {}
            await s.execute(_UPDATE_CHAT, [self._chat_update(chat) for chat in touched])
        await s.flush()
        if self.messages:
            rows, self.messages = self.messages, []
            shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for values in rows:
                shapes.setdefault(tuple(values), []).append(values)
            for same in shapes.values():
                await s.execute(insert(_MESSAGES), same)

    def _chat_update(self, chat: ChatRow) -> dict[str, Any]:
        unread, status = self._stored[chat.id]
        self._stored[chat.id] = (chat.unread_count, chat.status)
        return {
            "b_id": chat.id,
            "b_contact_id": chat.contact_id,
            "b_status": chat.status if chat.status != status else None,
            "b_unread": chat.unread_count - unread,
            "b_last_message": chat.last_message,
            "b_last_message_at": chat.last_message_at,
            "b_updated_at": chat.updated_at,
        }
