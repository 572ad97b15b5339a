"""Deleting a connection where it runs: its session deleted first, then its row.

On one node the runner deletes the session (the engine stops it and forgets the
device: its keys leave the device store), then the row goes with a
``connection.deleted`` event. In a cluster the same happens on the node holding the
lease: the delete is carried there like any command (``services/commands.py``). When
that node does not answer, nothing is deleted (503 ``node_unreachable``): deleting the
row alone would leave the device's keys in the device store, and the owner would only
close the session. A connection no node runs is deleted here, its row locked so that
no node claims it meanwhile; no session is open then, and the engine of this node
forgets the device's keys (with neonize, in the device store the nodes share).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from zapgate.domain.events import EventType
from zapgate.events.log import append_event
from zapgate.services.commands import Commands
from zapgate.services.payloads import connection_payload
from zapgate.sessions.supervisor import Supervisor
from zapgate.store.db import Database
from zapgate.store.tables.connections import ConnectionRow
from zapgate.util.clock import Clock


class ConnectionRemoval:
    def __init__(
        self, db: Database, clock: Clock, supervisor: Supervisor, commands: Commands
    ) -> None:
        self._db = db
        self._clock = clock
        self._supervisor = supervisor
        self._commands = commands
        commands.handlers["delete"] = self._carried

    async def delete(self, connection_id: str) -> None:
        """Delete the connection (the caller checked who may)."""
        if self._supervisor.node_id is None:
            await self._here(connection_id)
            return

        async def unowned() -> dict[str, Any] | None:
            deleted, jid = await self._delete_row(connection_id, unowned=True)
            if not deleted:
                return None
            # The row is gone: no node can claim it and open its session any more.
            await self._supervisor.forget(connection_id, jid)
            return {}

        await self._commands.run(connection_id, "delete", unowned=unowned)

    async def _carried(self, connection_id: str, args: dict[str, Any]) -> dict[str, Any]:
        # Reached only on the node that runs it (``Commands.run_here`` checked).
        await self._here(connection_id)
        return {}

    async def _here(self, connection_id: str) -> None:
        # Stop the session first: a deleted connection must never keep running.
        await self._supervisor.remove(connection_id)
        await self._delete_row(connection_id)

    async def _delete_row(
        self, connection_id: str, *, unowned: bool = False
    ) -> tuple[bool, str | None]:
        """Delete the row and say so in the log; with ``unowned``, only while no node
        holds it (False when one does: that node must delete it). With the device's JID,
        when the row had one."""
        now = self._clock.now()
        query = select(ConnectionRow).where(ConnectionRow.id == connection_id)
        async with self._db.write() as s:
            # Locked: a claim (``FOR UPDATE SKIP LOCKED``) passes it over meanwhile.
            row = await s.scalar(query.with_for_update() if unowned else query)
            if row is None:
                return True, None
            if unowned and row.node_id is not None:
                return False, None
            jid = row.jid
            payload = connection_payload(row)
            await s.delete(row)
            await append_event(
                s,
                organization_id=row.organization_id,
                connection_id=row.id,
                type=EventType.CONNECTION_DELETED,
                data=payload,
                created_at=now,
            )
        return True, jid
