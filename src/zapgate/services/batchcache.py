"""The contacts, chats and message keys of one group-committed transaction.

Group commits (accepted sends, inbound batches) do not create contacts and chats one
statement at a time: :class:`BatchRecords` loads those of the whole batch in a few
queries, keeps them current in memory and writes them with Core statements. A
concurrent writer's duplicate then fails the batch, which the group commit replays item
by item: the replay loads the row the other writer stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.chats import ChatStatus
from zapgate.domain.phones import phone_of_jid
from zapgate.services.chat_rows import new_chat_values
from zapgate.services.identities import ensure_contact, is_lid, new_contact_values
from zapgate.services.payloads import message_preview
from zapgate.store.keysets import by_pairs, one_of
from zapgate.store.rows import insert_new, new_row, table_of
from zapgate.store.tables.conversations import ChatRow, ContactRow
from zapgate.store.tables.messages import MessageRow

_CONTACTS = table_of(ContactRow)
_CHATS = table_of(ChatRow)
_MESSAGES = table_of(MessageRow)
_CONTACT_KEYS = tuple(c.key for c in _CONTACTS.columns)
_CHAT_KEYS = tuple(c.key for c in _CHATS.columns)

# One statement for every chat of a batch that existed before it (executemany). The
# unread count is added to and the status only written when the batch changed it, so
# an agent's "mark read" or "close" committed since the batch loaded the chat stands.
_OPENNESS = (ChatStatus.ACTIVE.value, ChatStatus.PENDING.value, ChatStatus.CLOSED.value)
"""Chat statuses, most open first: two chats folded into one keep the first of theirs."""

_UPDATE_CHAT = (
    update(_CHATS)
    .where(_CHATS.c.id == bindparam("b_id"))
    .values(
        contact_id=bindparam("b_contact_id"),
        lid=bindparam("b_lid"),
        status=func.coalesce(bindparam("b_status", type_=String()), _CHATS.c.status),
        unread_count=_CHATS.c.unread_count + bindparam("b_unread", type_=Integer()),
        last_message=bindparam("b_last_message"),
        last_message_at=bindparam("b_last_message_at"),
        updated_at=bindparam("b_updated_at"),
    )
)


class BatchRecords:
    """Contacts, chats and message keys of one group-committed transaction.

    Loaded in a few queries for the whole batch, then kept current by the batch itself,
    so most items need no statement of their own. It answers for a contact only when
    the answer is exactly what ``ensure_contact`` would give (same row, same
    ``changed``); anything else (a LID-only party, a merge, a new name) goes through
    that function, after which the contact maps are no longer trusted (``stale``).

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
        self.looked: set[tuple[str, str]] = set()
        """``(connection_id, jid)`` pairs whose chat was read (found or not)."""
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
        await self._load_chats(s, self._aliases(parties, chats))
        keys = set(messages)
        if keys:
            key = (_MESSAGES.c.connection_id, _MESSAGES.c.wa_message_id)
            rows = await s.execute(by_pairs(s, key, *key, keys))
            self.known.update((c, w) for c, w in rows.all() if c is not None and w is not None)

    def _aliases(
        self, parties: Iterable[tuple[str, str, str | None]], chats: Iterable[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """``chats`` and, for a person's chat, its other address (the phone JID of a LID,
        the LID of a phone JID) as the loaded contacts know it: what
        :meth:`person_chat` looks at, read in the same query."""
        orgs = {org for org, _, _ in parties}
        pairs = set(chats)
        for cid, jid in list(pairs):
            for org in orgs:
                row = self.contacts.get(org, {}).get(jid) or self.lids.get(org, {}).get(jid)
                if row is not None:
                    pairs.add((cid, row.jid))
                    if row.lid:
                        pairs.add((cid, row.lid))
        return pairs

    async def _load_chats(self, s: AsyncSession, chats: Iterable[tuple[str, str]]) -> None:
        pairs = set(chats) - self.looked
        if not pairs:
            return
        self.looked |= pairs
        found_chats = await s.execute(
            by_pairs(s, _CHATS.columns, _CHATS.c.connection_id, _CHATS.c.jid, pairs)
        )
        for values in found_chats.all():
            chat = new_row(ChatRow, dict(zip(_CHAT_KEYS, values, strict=True)))
            if chat.connection_id is not None and chat.id not in self._stored:
                self.chats.setdefault((chat.connection_id, chat.jid), chat)
                self._stored[chat.id] = (chat.unread_count, chat.status)

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
        row = new_row(ContactRow, new_contact_values(org, jid, phone, lid, name, push_name, now))
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
        """The chat of ``connection_id`` with ``jid``: loaded, created earlier in this
        batch, or new (a concurrent writer creating it too fails the batch on the unique
        key, and the replay loads its row)."""
        key = (connection_id, jid)
        self.looked.add(key)
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

    async def person_chat(
        self,
        s: AsyncSession,
        *,
        organization_id: str,
        connection_id: str,
        contact: ContactRow,
        jid: str,
        now: datetime,
    ) -> ChatRow:
        """The 1:1 chat of ``connection_id`` with ``contact``, whichever address (phone
        JID or LID, ``jid``) WhatsApp used: one chat per person.

        The chat is keyed by the contact's ``jid`` (the phone JID when the phone is known,
        else the LID) and keeps the LID beside it. A chat stored under the other address
        takes that key; two chats of the same person (one opened by phone, one by LID
        before anyone knew they were the same) are folded into the phone's.
        """
        key = contact.jid
        names = [key]
        for other in (contact.lid, jid):
            if other and other not in names:
                names.append(other)
        missing = [(connection_id, n) for n in names if (connection_id, n) not in self.looked]
        if missing:
            await self._load_chats(s, missing)
        rows: list[ChatRow] = []  # the chat under ``key`` first when there is one
        for name in names:
            row = self.chats.get((connection_id, name))
            if row is not None and not row.is_group and all(r.id != row.id for r in rows):
                rows.append(row)
        if rows and (len(rows) > 1 or rows[0].jid != key):
            await self._unify(s, rows, key)
        chat = self.chat(
            organization_id=organization_id,
            connection_id=connection_id,
            jid=key,
            contact_id=contact.id,
            now=now,
        )
        lid = contact.lid or (jid if is_lid(jid) else None)
        if lid and chat.lid != lid:
            chat.lid = lid
        return chat

    async def _unify(self, s: AsyncSession, rows: list[ChatRow], key: str) -> None:
        """Make ``rows[0]`` the one chat under ``key``: the others' messages move to it
        and they are deleted; its messages take the key as their ``chat_jid``."""
        await self.drain(s)  # what the batch wrote so far is in the tables
        keep = rows[0]
        for drop in rows[1:]:
            await s.execute(
                update(_MESSAGES)
                .where(_MESSAGES.c.chat_id == drop.id)
                .values(chat_id=keep.id, chat_jid=key)
            )
            keep.unread_count += drop.unread_count
            if drop.last_message_at is not None and (
                keep.last_message_at is None or drop.last_message_at > keep.last_message_at
            ):
                keep.last_message, keep.last_message_at = drop.last_message, drop.last_message_at
            keep.lid = keep.lid or drop.lid
            # Nothing a person did to either chat is lost: the more open status (the
            # batch's update writes it), an assignee and a name (written here).
            keep.status = min(keep.status, drop.status, key=_OPENNESS.index)
            if (keep.assignee_id is None and drop.assignee_id) or (keep.name is None and drop.name):
                keep.assignee_id = keep.assignee_id or drop.assignee_id
                keep.name = keep.name or drop.name
                # COALESCE: what an agent set on the kept chat since the batch read it
                # (an assignment committed meanwhile) stands.
                await s.execute(
                    update(_CHATS)
                    .where(_CHATS.c.id == keep.id)
                    .values(
                        assignee_id=func.coalesce(_CHATS.c.assignee_id, drop.assignee_id),
                        name=func.coalesce(_CHATS.c.name, drop.name),
                    )
                )
            await s.execute(delete(_CHATS).where(_CHATS.c.id == drop.id))
            self._forget(drop)
        if keep.jid != key:
            await s.execute(
                update(_MESSAGES).where(_MESSAGES.c.chat_id == keep.id).values(chat_jid=key)
            )
            if is_lid(keep.jid):
                keep.lid = keep.lid or keep.jid
            # Its own statement: ``jid`` is indexed, and the batch's UPDATE of every
            # touched chat would rewrite those index entries (SQLite) for nothing.
            await s.execute(update(_CHATS).where(_CHATS.c.id == keep.id).values(jid=key))
            self.chats.pop((keep.connection_id or "", keep.jid), None)
            keep.jid = key
            self.chats[(keep.connection_id or "", key)] = keep
        self._touched[keep.id] = keep

    def _forget(self, chat: ChatRow) -> None:
        """A folded chat: gone from the table, so from the batch too."""
        self.chats.pop((chat.connection_id or "", chat.jid), None)
        self._stored.pop(chat.id, None)
        self._touched.pop(chat.id, None)
        self._new_chats.pop(chat.id, None)

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
            "b_lid": chat.lid,
            "b_status": chat.status if chat.status != status else None,
            "b_unread": chat.unread_count - unread,
            "b_last_message": chat.last_message,
            "b_last_message_at": chat.last_message_at,
            "b_updated_at": chat.updated_at,
        }
