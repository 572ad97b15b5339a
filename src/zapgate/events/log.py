"""The persisted event log.

Events are written in the same transaction as the change they describe. Their ids
must appear in commit order, or a reader resuming from id N could skip an event with a
smaller id committed later. SQLite has one writer at a time, so that holds by itself;
on PostgreSQL every transaction that appends events first takes one transaction-scoped
advisory lock, which serializes event-writing commits (a few microseconds each).

So the log's lock must be the **last lock a transaction takes**: write (and lock) every
row first, then append or flush the events (``stage_event`` + ``flush_staged`` where a
transaction has several). A transaction that appends an event and then updates a row
deadlocks with one that locked that row and waits for the log: a send outcome updating
its connection after ``message.sent`` did, against the cluster's connection recorder
(row locked ``FOR UPDATE``, then its events).

Work that must commit or roll back with the events (the webhook fan-out) is an
in-transaction event hook: the composition root registers it on the database
(``event_hooks``), and every append or flush of events runs the hooks in the same
transaction. The log itself knows nothing of who listens.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.schema import Table

from zapgate.domain.events import Event
from zapgate.store.db import PENDING_EVENTS, Database
from zapgate.store.tables.events import EventRow

_ADVISORY_KEY = 0x7A617067  # "zapg"
_LOCKED = "zapgate.events_locked"
_HOOKS = "zapgate.event_hooks"


class EventHook(Protocol):
    """Work done in the transaction that appends ``events``, committed or rolled back
    with them; called once per ``append_event`` or ``flush_staged``."""

    async def __call__(self, session: AsyncSession, events: list[Event], /) -> None: ...


class EventHooks:
    """The in-transaction event hooks of one database, run in registration order."""

    def __init__(self) -> None:
        self._hooks: list[EventHook] = []

    def add(self, hook: EventHook) -> None:
        if hook not in self._hooks:
            self._hooks.append(hook)

    async def run(self, session: AsyncSession, events: list[Event]) -> None:
        for hook in self._hooks:
            await hook(session, events)


def event_hooks(db: Database) -> EventHooks:
    """The hooks every event-appending transaction of ``db`` runs (created empty)."""
    hooks = db.session_info.get(_HOOKS)
    if not isinstance(hooks, EventHooks):
        hooks = db.session_info[_HOOKS] = EventHooks()
    return hooks


async def _run_hooks(session: AsyncSession, events: list[Event]) -> None:
    hooks = session.info.get(_HOOKS)
    if hooks is not None:
        await hooks.run(session, events)


async def _lock_log(session: AsyncSession) -> None:
    """On PostgreSQL, serialize event-writing transactions (once per transaction).

    The rows the caller changed but has not flushed yet are written first: the log's
    lock is the last one taken (autoflush would do it too, but not under
    ``no_autoflush``). Rows changed after this are written under the lock: stage such
    events and flush them at the end instead."""
    if session.get_bind().dialect.name == "postgresql" and not session.info.get(_LOCKED):
        await session.flush()
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})
        session.info[_LOCKED] = True


async def append_event(
    session: AsyncSession,
    *,
    organization_id: str,
    type: str,
    data: dict[str, Any],
    created_at: datetime,
    connection_id: str | None = None,
) -> Event:
    """Insert one event in the caller's transaction; it is published after commit.

    The database's event hooks (webhook deliveries) run in the same transaction.
    """
    await _lock_log(session)
    row = EventRow(
        organization_id=organization_id,
        connection_id=connection_id,
        type=type,
        data=data,
        created_at=created_at,
    )
    session.add(row)
    await session.flush()
    event = to_event(row)
    await _run_hooks(session, [event])
    session.info.setdefault(PENDING_EVENTS, []).append(event)
    return event


_STAGED = "zapgate.staged_events"
_EVENTS = cast(Table, EventRow.__table__)


def stage_event(
    session: AsyncSession,
    *,
    organization_id: str,
    type: str,
    data: dict[str, Any],
    created_at: datetime,
    connection_id: str | None = None,
) -> None:
    """Add an event without writing it yet; :func:`flush_staged` writes all staged events.

    For transactions that append many events (group commits): one multi-row INSERT
    instead of one round trip per event.
    """
    session.info.setdefault(_STAGED, []).append(
        {
            "organization_id": organization_id,
            "connection_id": connection_id,
            "type": type,
            "data": data,
            "created_at": created_at,
        }
    )


async def flush_staged(session: AsyncSession) -> list[Event]:
    """Write the staged events (ids in staging order) and run the event hooks once for
    all of them."""
    staged: list[dict[str, Any]] = session.info.pop(_STAGED, [])
    if not staged:
        return []
    await _lock_log(session)
    # A Core multi-row INSERT ... RETURNING: no ORM object per event, ids in staging order.
    if session.get_bind().dialect.name == "sqlite":
        event_ids = await _insert_sqlite(session, staged)
    else:
        result = await session.execute(
            insert(_EVENTS).returning(_EVENTS.c.id, sort_by_parameter_order=True), staged
        )
        event_ids = list(result.scalars())
    events = [
        Event(
            id=int(event_id),
            type=values["type"],
            organization_id=values["organization_id"],
            connection_id=values["connection_id"],
            created_at=values["created_at"],
            data=values["data"],
        )
        for event_id, values in zip(event_ids, staged, strict=True)
    ]
    await _run_hooks(session, events)
    session.info.setdefault(PENDING_EVENTS, []).extend(events)
    return events


async def _insert_sqlite(session: AsyncSession, staged: list[dict[str, Any]]) -> list[int]:
    """The ids of the staged rows, in staging order, from one multi-row INSERT.

    SQLAlchemy cannot match RETURNING rows to parameters on SQLite, so asking it to
    (``sort_by_parameter_order``) means one INSERT per event. It need not: SQLite inserts
    VALUES rows in order, each taking the largest id so far plus one, and this
    transaction is the only writer, so the ascending ids belong to the rows in staging
    order whatever order RETURNING lists them in.
    """
    result = await session.execute(insert(_EVENTS).returning(_EVENTS.c.id), staged)
    return sorted(result.scalars())


class EventFields(Protocol):
    """What an event is made of: an ``EventRow``, or a row of just those columns."""

    @property
    def id(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def organization_id(self) -> str: ...
    @property
    def connection_id(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def data(self) -> dict[str, Any]: ...


def to_event(row: EventFields) -> Event:
    return Event(
        id=row.id,
        type=row.type,
        organization_id=row.organization_id,
        connection_id=row.connection_id,
        created_at=row.created_at,
        data=row.data,
    )


async def list_events(
    session: AsyncSession,
    *,
    organization_id: str,
    since: int = 0,
    types: Sequence[str] | None = None,
    connection_id: str | None = None,
    limit: int = 100,
) -> list[Event]:
    query = (
        select(EventRow)
        .where(EventRow.organization_id == organization_id, EventRow.id > since)
        .order_by(EventRow.id)
        .limit(limit)
    )
    if types:
        query = query.where(EventRow.type.in_(list(types)))
    if connection_id:
        query = query.where(EventRow.connection_id == connection_id)
    rows = (await session.scalars(query)).all()
    return [to_event(r) for r in rows]


async def last_event_id(session: AsyncSession) -> int:
    value = await session.scalar(select(EventRow.id).order_by(EventRow.id.desc()).limit(1))
    return int(value or 0)
