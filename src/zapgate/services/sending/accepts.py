"""The group commit of accepted messages: routed, with their contacts, chats and
events, in one transaction per group.

Concurrent requests queue their messages here and one flusher writes everything queued
meanwhile in one transaction; each caller resumes after the commit that carries its
message. A failing group is replayed message by message through the same function, so
one bad request cannot fail the others (``store/groupcommit.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.schema import Table

from zapgate.domain.errors import Conflict
from zapgate.domain.events import EventType
from zapgate.domain.messages import MessageType
from zapgate.domain.phones import is_group_jid
from zapgate.events.log import flush_staged, stage_event
from zapgate.services.batchcache import BatchRecords
from zapgate.services.context import Principal
from zapgate.services.drafts import MessageDraft
from zapgate.services.payloads import chat_payload, contact_payload, message_preview
from zapgate.services.routing import Router
from zapgate.services.sending.idempotency import BatchKeys, prior_message
from zapgate.store.db import Database
from zapgate.store.groupcommit import GroupCommit
from zapgate.store.tables import Base
from zapgate.store.tables.conversations import ContactRow
from zapgate.store.tables.messages import MessageRow
from zapgate.util.clock import Clock

MESSAGES: Table = Base.metadata.tables["messages"]
BATCH = 200
"""Accepted messages written per transaction at most."""

Accepted = MessageRow | MessageDraft
"""What a send answers with: the message it queued, or the one its key already names."""


@dataclass(slots=True)
class Accept:
    """One accepted message waiting for the group commit that carries it."""

    principal: Principal
    row: MessageDraft
    fingerprint: str


class AcceptWriter:
    """Writes accepted messages in group commits; the caller gets its own answer."""

    def __init__(self, db: Database, clock: Clock, *, router: Router) -> None:
        self._db = db
        self._router = router
        # A client that hung up before its message was taken into a group never got
        # its 202: the message is not written (nor sent).
        self._group: GroupCommit[Accept, Accepted] = GroupCommit(
            "accept",
            self._write,
            clock=clock,
            max_items=BATCH,
            withdraw_cancelled=True,
        )

    async def close(self) -> None:
        await self._group.close(timeout=5.0)

    async def commit(self, principal: Principal, row: MessageDraft, fingerprint: str) -> Accepted:
        """Commit ``row``, or answer the message its Idempotency-Key already names."""
        return await self._group.submit(Accept(principal, row, fingerprint))

    async def _write(self, batch: list[Accept]) -> list[Accepted | Exception]:
        """All of ``batch`` in one transaction, with contacts and chats read in two
        queries and messages and events in one INSERT each; one answer per message."""
        results: list[Accepted | Exception | None] = [None] * len(batch)
        async with self._db.write(in_loop=True) as s:
            todo: list[tuple[int, Accept]] = []
            for index, accept in enumerate(batch):
                key = accept.row.idempotency_key
                if key:
                    try:
                        prior = await prior_message(s, accept.principal, key, accept.fingerprint)
                    except Conflict as exc:
                        results[index] = exc
                        continue
                    if prior is not None:
                        results[index] = prior
                        continue
                todo.append((index, accept))
            todo = await self._route(s, todo, results)
            keys = BatchKeys()
            unique: list[tuple[int, Accept]] = []
            for index, accept in todo:
                earlier = keys.earlier(
                    accept.principal.organization_id, accept.row, accept.fingerprint
                )
                if earlier is None:
                    unique.append((index, accept))
                else:
                    results[index] = earlier
            todo = unique
            records = BatchRecords()
            await records.load(
                s,
                parties=[
                    (a.principal.organization_id, a.row.chat_jid, None)
                    for _, a in todo
                    if not is_group_jid(a.row.chat_jid)
                ],
                chats=[(a.row.connection_id or "", a.row.chat_jid) for _, a in todo],
            )
            for index, accept in todo:
                await stage_accept(s, records, accept.principal, accept.row)
                results[index] = accept.row
            await records.drain(s)
            if todo:
                await s.execute(insert(MESSAGES), [accept.row.values() for _, accept in todo])
            await flush_staged(s)
        return [r if r is not None else RuntimeError("not written") for r in results]

    async def _route(
        self,
        s: AsyncSession,
        todo: list[tuple[int, Accept]],
        results: list[Accepted | Exception | None],
    ) -> list[tuple[int, Accept]]:
        """Give a connection to the messages that name none; drop those that get none
        (their answer is the router's error)."""
        groups: dict[str, list[Accept]] = {}
        for _, accept in todo:
            if accept.row.connection_id is None:
                groups.setdefault(accept.principal.organization_id, []).append(accept)
        failed: dict[int, Conflict] = {}
        for org, accepts in groups.items():
            routes = await self._router.choose_many(s, org, [a.row.chat_jid for a in accepts])
            for accept, route in zip(accepts, routes, strict=True):
                if isinstance(route, Conflict):
                    failed[id(accept)] = route
                else:
                    accept.row.connection_id = route
        kept: list[tuple[int, Accept]] = []
        for index, accept in todo:
            error = failed.get(id(accept))
            if error is None:
                kept.append((index, accept))
            else:
                results[index] = error
        return kept


async def stage_accept(
    s: AsyncSession, records: BatchRecords, principal: Principal, row: MessageDraft
) -> None:
    """Contact, chat and events of one message of a batch (the row is added later)."""
    now = row.created_at
    org = principal.organization_id
    contact_id: str | None = None
    contact: ContactRow | None = None
    if not is_group_jid(row.chat_jid):
        contact, changed = await records.contact(s, organization_id=org, jid=row.chat_jid, now=now)
        contact_id = contact.id
        row.payload = {
            **row.payload,
            "contact_phone": contact.phone,
            "contact_lid": contact.lid,
        }
        if changed:
            stage_event(
                s,
                organization_id=org,
                connection_id=row.connection_id,
                type=EventType.CONTACT_UPDATED,
                data=contact_payload(contact),
                created_at=now,
            )
    assert row.connection_id is not None
    if contact is None:
        chat = records.chat(
            organization_id=org,
            connection_id=row.connection_id,
            jid=row.chat_jid,
            contact_id=None,
            now=now,
        )
    else:
        # A phone whose chat WhatsApp moved to LID addressing is still that chat.
        chat = await records.person_chat(
            s,
            organization_id=org,
            connection_id=row.connection_id,
            contact=contact,
            jid=row.chat_jid,
            now=now,
        )
        row.chat_jid = chat.jid
    row.chat_id = chat.id
    row.contact_id = contact_id
    if row.type != MessageType.REACTION:
        chat.last_message = message_preview(row)
        chat.last_message_at = now
        chat.updated_at = now
        stage_event(
            s,
            organization_id=org,
            connection_id=row.connection_id,
            type=EventType.CHAT_UPDATED,
            data=chat_payload(chat),
            created_at=now,
        )
