"""Writes what happens to a connection: its row, its event log, its public events.

Each call is one transaction, so the row, the log line and the published events never
disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.events import EventType
from zapgate.domain.states import ConnectionState
from zapgate.events.log import append_event
from zapgate.store.db import Database
from zapgate.store.tables import ConnectionEventRow, ConnectionRow
from zapgate.util.clock import Clock

# Fields of the row a status change may carry.
STATUS_FIELDS = (
    "phone",
    "jid",
    "lid",
    "push_name",
    "linked",
    "error_code",
    "error_message",
    "attempt",
    "next_retry_at",
    "connected_at",
    "disconnected_at",
    "last_seen_at",
)


def status_payload(row: ConnectionRow) -> dict[str, Any]:
    """The status as ``GET /connections/{id}/status`` answers it."""
    return {
        "state": row.state,
        "phone": row.phone,
        "push_name": row.push_name,
        "connected_at": _iso(row.connected_at),
        "last_seen_at": _iso(row.last_seen_at),
        "error_code": row.error_code,
        "error_message": row.error_message,
        "attempt": row.attempt,
        "next_retry_at": _iso(row.next_retry_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True, slots=True)
class Change:
    """One thing to record: an optional new state, row fields, a log line, extra events."""

    kind: str
    message: str | None = None
    state: ConnectionState | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    log_data: dict[str, Any] = field(default_factory=dict)
    events: tuple[tuple[EventType, dict[str, Any]], ...] = ()
    log: bool = True


class ConnectionRecorder:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def load(self, connection_id: str) -> ConnectionRow | None:
        async with self._db.read() as s:
            return await s.get(ConnectionRow, connection_id)

    async def load_all(self) -> list[ConnectionRow]:
        async with self._db.read() as s:
            return list((await s.scalars(select(ConnectionRow).order_by(ConnectionRow.id))).all())

    async def record(self, connection_id: str, change: Change) -> ConnectionRow | None:
        """Apply ``change``; None when the connection no longer exists (deleted meanwhile)."""
        async with self._db.write() as s:
            row = await s.get(ConnectionRow, connection_id)
            if row is None:
                return None
            await self._apply(s, row, change)
            return row

    async def record_many(self, connection_ids: list[str], change: Change) -> None:
        """Apply one ``change`` to many connections in one transaction (restore at start:
        a thousand single transactions would cost seconds on SQLite)."""
        async with self._db.write() as s:
            for start in range(0, len(connection_ids), 500):
                chunk = connection_ids[start : start + 500]
                rows = await s.scalars(select(ConnectionRow).where(ConnectionRow.id.in_(chunk)))
                for row in rows.all():
                    await self._apply(s, row, change)

    async def _apply(self, s: AsyncSession, row: ConnectionRow, change: Change) -> None:
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
            payload = status_payload(row) | {"previous_state": previous}
            if change.message:
                payload["reason"] = change.message
            await append_event(
                s,
                organization_id=row.organization_id,
                connection_id=row.id,
                type=EventType.CONNECTION_STATUS,
                data=payload,
                created_at=now,
            )
        for event_type, data in change.events:
            await append_event(
                s,
                organization_id=row.organization_id,
                connection_id=row.id,
                type=event_type,
                data=data,
                created_at=now,
            )
        await s.flush()
