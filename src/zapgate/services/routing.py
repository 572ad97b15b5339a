"""Which connection sends a message that names none.

The connection that already talks to the contact keeps the conversation (the customer
sees the same number); otherwise the organization's primary when it can send; otherwise
the ready connections take turns. When nothing is ready the message still has a home
(the primary, or any connection) and waits there for it to come back.
"""

from __future__ import annotations

import itertools

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.errors import Conflict, NotFound
from zapgate.domain.states import ConnectionState
from zapgate.sessions.supervisor import Supervisor
from zapgate.store.tables import ChatRow, ConnectionRow


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
        rows = (
            await s.execute(
                select(ConnectionRow.id, ConnectionRow.is_primary)
                .where(ConnectionRow.organization_id == organization_id)
                .order_by(ConnectionRow.id)
            )
        ).all()
        if not rows:
            raise Conflict("this organization has no connection to send from", code="no_connection")
        states = self._supervisor.states()
        ready = [cid for cid, _ in rows if states.get(cid) is ConnectionState.READY]
        primary = next((cid for cid, is_primary in rows if is_primary), None)
        if primary is not None and primary in ready:
            return primary
        if ready:
            turn = next(self._turns.setdefault(organization_id, itertools.count()))
            return ready[turn % len(ready)]
        return primary or rows[0][0]
