"""Which connection sends a message that names none.

The connection that already talks to the contact keeps the conversation (the customer
sees the same number); otherwise the organization's primary when it can send; otherwise
the ready connections take turns. When nothing is ready the message still has a home
(the primary, or any connection) and waits there for it to come back.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.errors import Conflict, NotFound
from zapgate.domain.states import ConnectionState
from zapgate.sessions.supervisor import Supervisor
from zapgate.store.tables.connections import ConnectionRow
from zapgate.store.tables.conversations import ChatRow

Candidate = tuple[str, bool, str]
"""A connection a send may go from: (id, is primary, state in the table)."""


class Router:
    def __init__(self, supervisor: Supervisor) -> None:
        self._supervisor = supervisor
        self._turns: dict[str, itertools.count[int]] = {}

    async def explicit(
        self, s: AsyncSession, organization_id: str, connection_id: str
    ) -> ConnectionRow:
        row = await s.get(ConnectionRow, connection_id)
        if row is None or row.organization_id != organization_id:
            raise NotFound("connection not found", code="connection_not_found")
        return row

    async def choose(self, s: AsyncSession, organization_id: str, chat_jid: str) -> str:
        owner = await s.scalar(
            select(ChatRow.connection_id)
            .where(
                ChatRow.organization_id == organization_id,
                ChatRow.jid == chat_jid,
                ChatRow.connection_id.is_not(None),
            )
            .order_by(ChatRow.last_message_at.desc())
            .limit(1)
        )
        if owner is not None:
            return owner
        return self._pick(organization_id, await self._connections(s, organization_id))

    async def choose_many(
        self, s: AsyncSession, organization_id: str, chat_jids: Sequence[str]
    ) -> list[str | Conflict]:
        """:meth:`choose` for each of ``chat_jids`` in order, in two queries, as if each
        message were stored before the next is routed (its connection then owns the chat).
        A ``Conflict`` in the answer is that message's error."""
        found = await s.execute(
            select(ChatRow.jid, ChatRow.connection_id, ChatRow.last_message_at).where(
                ChatRow.organization_id == organization_id,
                ChatRow.jid.in_(sorted(set(chat_jids))),
                ChatRow.connection_id.is_not(None),
            )
        )
        owners: dict[str, str] = {}
        latest: dict[str, Any] = {}
        for jid, connection_id, at in found.all():
            if connection_id is None:
                continue
            if jid not in owners or (at is not None and (latest[jid] is None or at > latest[jid])):
                owners[jid], latest[jid] = connection_id, at
        rows: list[Candidate] | None = None
        answer: list[str | Conflict] = []
        for jid in chat_jids:
            owner = owners.get(jid)
            if owner is None:
                if rows is None:
                    rows = await self._connections(s, organization_id)
                try:
                    owner = self._pick(organization_id, rows)
                except Conflict as exc:
                    answer.append(exc)
                    continue
                owners[jid] = owner
            answer.append(owner)
        return answer

    @staticmethod
    async def _connections(s: AsyncSession, organization_id: str) -> list[Candidate]:
        rows = await s.execute(
            select(ConnectionRow.id, ConnectionRow.is_primary, ConnectionRow.state)
            .where(ConnectionRow.organization_id == organization_id)
            .order_by(ConnectionRow.id)
        )
        return [(cid, bool(primary), state) for cid, primary, state in rows.all()]

    def _pick(self, organization_id: str, rows: list[Candidate]) -> str:
        if not rows:
            raise Conflict("this organization has no connection to send from", code="no_connection")
        if self._supervisor.node_id is None:
            states = self._supervisor.states()
            ready = [cid for cid, _, _ in rows if states.get(cid) is ConnectionState.READY]
        else:
            # In a cluster other nodes run most connections: their state is the table's.
            ready = [cid for cid, _, state in rows if state == ConnectionState.READY.value]
        primary = next((cid for cid, is_primary, _ in rows if is_primary), None)
        if primary is not None and primary in ready:
            return primary
        if ready:
            turn = next(self._turns.setdefault(organization_id, itertools.count()))
            return ready[turn % len(ready)]
        return primary or rows[0][0]
