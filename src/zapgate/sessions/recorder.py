"""Writes what happens to a connection: its row, its event log, its public events.

A change's row fields, its log line and its events are written in one transaction, so
they never disagree. That transaction is usually shared: the changes recorded while one
transaction is being written go together in the next one (``store.groupcommit``). When a
shared transaction fails, its changes are written again one per transaction, so a bad
change fails alone and leaves nothing of itself behind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.errors import Conflict
from zapgate.domain.events import EventType
from zapgate.events.log import flush_staged, stage_event
from zapgate.sessions.steps import Change
from zapgate.store.db import Database
from zapgate.store.groupcommit import GroupCommit
from zapgate.store.tables.connections import ConnectionEventRow, ConnectionRow
from zapgate.util.clock import Clock

StatusPayload = Callable[[ConnectionRow], dict[str, Any]]
"""The status of a connection as the API shows it: the data of ``connection.status``
events. The layer that shapes API bodies gives it (``services/payloads.py``)."""


class LeaseLost(Conflict):
    """In a cluster: this node no longer holds the connection's lease (another node took
    it over); nothing of the change was written."""

    code = "lease_lost"


Recorded = ConnectionRow | None | LeaseLost
Item = tuple[str, Change, int | None]


class ConnectionRecorder:
    """Writes changes with group commit: ``record`` calls from many runners made while a
    transaction is being written share the next one (up to ``BATCH``). After a restart a
    thousand sessions report ``ready`` within seconds; one transaction each would queue
    them on SQLite's single writer."""

    BATCH = 200

    def __init__(
        self,
        db: Database,
        clock: Clock,
        status_payload: StatusPayload,
        *,
        node_id: str | None = None,
    ) -> None:
        """``node_id``: in a cluster, this node; every change is then fenced: written
        only while the row still names this node with the writer's lease epoch (the row
        locked meanwhile, so no claim slips in between)."""
        self._db = db
        self._node_id = node_id
        self._clock = clock
        self._status_payload = status_payload
        self._changes: GroupCommit[Item, Recorded] = GroupCommit(
            "connection-recorder", self._write_batch, clock=clock, max_items=self.BATCH
        )

    async def close(self) -> None:
        """Write the changes already recorded, then stop grouping: a change recorded
        after this (a runner's last state at shutdown) is written in its caller's task."""
        await self._changes.close()

    async def load(self, connection_id: str) -> ConnectionRow | None:
        async with self._db.read() as s:
            return await s.get(ConnectionRow, connection_id)

    async def load_many(self, ids: list[str]) -> list[ConnectionRow]:
        async with self._db.read() as s:
            found = await s.scalars(select(ConnectionRow).where(ConnectionRow.id.in_(ids)))
            return list(found.all())

    async def load_all(self) -> list[ConnectionRow]:
        async with self._db.read() as s:
            return list((await s.scalars(select(ConnectionRow).order_by(ConnectionRow.id))).all())

    async def record(
        self, connection_id: str, change: Change, *, epoch: int | None = None
    ) -> ConnectionRow | None:
        """Apply ``change``; None when the connection no longer exists (deleted meanwhile).

        In a cluster ``epoch`` is the writer's lease epoch; raises :class:`LeaseLost`
        when the lease moved on."""
        result = await self._changes.submit((connection_id, change, epoch))
        assert not isinstance(result, LeaseLost)  # GroupCommit raises the errors
        return result

    def _select(self, ids: list[str]) -> Any:
        query = select(ConnectionRow).where(ConnectionRow.id.in_(ids))
        return query.with_for_update() if self._node_id is not None else query

    def _fenced(self, row: ConnectionRow, epoch: int | None) -> bool:
        if self._node_id is None:
            return False
        return row.node_id != self._node_id or row.lease_epoch != epoch

    async def _write_batch(self, batch: list[Item]) -> list[Recorded]:
        results: list[Recorded] = []
        async with self._db.write(in_loop=True) as s:
            ids = list({cid for cid, _, _ in batch})
            found = await s.scalars(self._select(ids))
            rows = {row.id: row for row in found.all()}
            for cid, change, epoch in batch:
                row = rows.get(cid)
                if row is not None and self._fenced(row, epoch):
                    results.append(LeaseLost("another node now runs this connection"))
                    continue
                if row is not None:
                    self._apply(s, row, change)
                results.append(row)
            await self._flush(s)
        return results

    async def record_many(
        self, connection_ids: list[str], change: Change, *, epochs: dict[str, int] | None = None
    ) -> None:
        """Apply one ``change`` to many connections in one transaction (restore at start:
        a thousand single transactions would cost seconds on SQLite). In a cluster,
        ``epochs`` fences each one as :meth:`record` does (a fenced one is skipped)."""
        async with self._db.write() as s:
            for start in range(0, len(connection_ids), 500):
                chunk = connection_ids[start : start + 500]
                rows = await s.scalars(self._select(chunk))
                for row in rows.all():
                    if not self._fenced(row, (epochs or {}).get(row.id)):
                        self._apply(s, row, change)
                await s.flush()
            await flush_staged(s)  # the events last, once every row is locked and written

    async def stage(
        self, s: AsyncSession, changes: list[tuple[list[ConnectionRow], Change]]
    ) -> None:
        """Apply each change to its rows, read and locked in ``s`` by the caller, inside
        the caller's transaction (a lease claim writes the state its connections are in
        now with the claim itself); every row first, the events once, last."""
        for rows, change in changes:
            for row in rows:
                self._apply(s, row, change)
        await self._flush(s)

    def _apply(self, s: AsyncSession, row: ConnectionRow, change: Change) -> None:
        """Stage one change; the caller writes everything with :meth:`_flush`."""
        now = self._clock.now()
        previous = row.state
        for name, value in change.fields.items():
            setattr(row, name, value)
        changed = change.state is not None and change.state.value != previous
        if changed:
            assert change.state is not None
            row.state = change.state.value
        row.updated_at = now
        if change.log:
            s.add(
                ConnectionEventRow(
                    connection_id=row.id,
                    organization_id=row.organization_id,
                    kind=change.kind,
                    state=row.state,
                    message=change.message,
                    data=change.log_data,
                    created_at=now,
                )
            )
        if changed:
            payload = self._status_payload(row) | {"previous_state": previous}
            if change.message:
                payload["reason"] = change.message
            stage_event(
                s,
                organization_id=row.organization_id,
                connection_id=row.id,
                type=EventType.CONNECTION_STATUS,
                data=payload,
                created_at=now,
            )
        for event_type, data in change.events:
            stage_event(
                s,
                organization_id=row.organization_id,
                connection_id=row.id,
                type=event_type,
                data=data,
                created_at=now,
            )

    @staticmethod
    async def _flush(s: AsyncSession) -> None:
        # Rows, log lines and events of the whole batch go out in a few multi-row
        # statements: on SQLite each statement is a round trip to aiosqlite's thread.
        # Rows first, events last: the event log's lock is the last lock a transaction
        # takes (events/log.py), or this could deadlock with a send outcome.
        await s.flush()
        await flush_staged(s)
