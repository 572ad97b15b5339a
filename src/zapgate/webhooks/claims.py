"""Which deliveries of one webhook go next: the worker's claim queries.

A claim reads delivery columns only and takes each body from the recent events the
dispatcher remembers (``bodies``); other events (older, a slow endpoint's backlog,
after a restart) are read from the log in the same read. It runs as a short read on the
event loop (``Database.read(in_loop=True)``).

- ``claim_due``: the due rows, oldest due first, for concurrent delivery (index
  ``(webhook_id, status, next_attempt_at)``); or the newest due one, a paused
  endpoint's probe (``pause.py``).
- ``claim_next_in_order``: an ordered endpoint's pending rows with the lowest event
  ids, as many of them as are due in a row (partial index ``(webhook_id, event_id)
  WHERE status = 'pending'``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.deliveries import DeliveryStatus
from zapgate.events.log import to_event
from zapgate.store.db import Database
from zapgate.store.tables.events import EventRow
from zapgate.store.tables.webhooks import IS_PENDING, WebhookDeliveryRow
from zapgate.webhooks.bodies import RecentBodies, encode_body


@dataclass(slots=True)
class Due:
    """A claimed delivery, as it was when claimed."""

    id: str
    event_id: int
    event_type: str
    connection_id: str | None
    attempts: int
    due_at: datetime | None
    created_at: datetime
    body: bytes | None
    """None when the event was pruned from the log before it could be delivered."""


_CLAIM_COLUMNS = (
    WebhookDeliveryRow.id,
    WebhookDeliveryRow.event_id,
    WebhookDeliveryRow.event_type,
    WebhookDeliveryRow.connection_id,
    WebhookDeliveryRow.attempts,
    WebhookDeliveryRow.next_attempt_at,
    WebhookDeliveryRow.created_at,
)
_EVENT_COLUMNS = (
    EventRow.id,
    EventRow.type,
    EventRow.organization_id,
    EventRow.connection_id,
    EventRow.created_at,
    EventRow.data,
)


async def _with_bodies(
    s: AsyncSession,
    rows: Sequence[Row[str, int, str, str | None, int, datetime | None, datetime]],
    bodies: RecentBodies,
) -> list[Due]:
    # Bodies of the events just committed here are remembered; others (older, a retry
    # after a restart, a slow endpoint's backlog) are read from the log.
    found = {r.event_id: bodies.get(r.event_id) for r in rows}
    unknown = [event_id for event_id, body in found.items() if body is None]
    if unknown:
        for e in await s.execute(select(*_EVENT_COLUMNS).where(EventRow.id.in_(unknown))):
            found[e.id] = encode_body(to_event(e))
    return [
        Due(
            id=r.id,
            event_id=r.event_id,
            event_type=r.event_type,
            connection_id=r.connection_id,
            attempts=r.attempts,
            due_at=r.next_attempt_at,
            created_at=r.created_at,
            body=found[r.event_id],  # None: pruned from the log before delivery
        )
        for r in rows
    ]


async def claim_due(
    db: Database,
    webhook_id: str,
    *,
    now: datetime,
    limit: int,
    inflight: set[str],
    bodies: RecentBodies,
    newest: bool = False,
) -> tuple[list[Due], datetime | None]:
    """Up to ``limit`` due rows not in ``inflight``, oldest due first (``newest``: the
    latest events first, a paused endpoint's probe); and, when that is all of them, when
    the next pending row falls due (None: nothing pending)."""
    hook = WebhookDeliveryRow.webhook_id == webhook_id
    pending = WebhookDeliveryRow.status == DeliveryStatus.PENDING.value
    # A probe walks the partial index ``(webhook_id, event_id) WHERE pending`` down
    # from the top (its condition spelled as declared): a paused endpoint's backlog
    # may be long, and its newest rows are due.
    query = (
        select(*_CLAIM_COLUMNS)
        .where(
            hook,
            IS_PENDING if newest else pending,
            WebhookDeliveryRow.next_attempt_at <= now,
            WebhookDeliveryRow.id.not_in(inflight),
        )
        .order_by(
            *(
                (WebhookDeliveryRow.event_id.desc(),)
                if newest
                else (WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.event_id)
            )
        )
        .limit(limit)
    )
    later: datetime | None = None
    async with db.read(in_loop=True) as s:
        rows = (await s.execute(query)).all()
        due = await _with_bodies(s, rows, bodies)
        if len(rows) < limit:
            # Every row due at ``now`` is claimed or in flight (and a row in flight
            # was due then too), so the next one is the earliest due after ``now``:
            # no need to list the rows in flight again.
            later = await s.scalar(
                select(func.min(WebhookDeliveryRow.next_attempt_at)).where(
                    hook, pending, WebhookDeliveryRow.next_attempt_at > now
                )
            )
    return due, later


async def claim_next_in_order(
    db: Database,
    webhook_id: str,
    *,
    now: datetime,
    bodies: RecentBodies,
    limit: int = 1,
    after: int | None = None,
) -> tuple[list[Due], datetime | None]:
    """The pending rows with the lowest event ids, up to ``limit``, as far as they are
    due in a row; with none due, when the first falls due (None: nothing pending). The
    caller has nothing of this endpoint in flight, so the first pending row is the next
    one to send, and a failed one waiting for its retry holds back every later one;
    or it has batches in flight up to event id ``after``, and the next batch follows
    them."""
    # The partial index's condition, spelled as declared so both planners match it.
    query = select(*_CLAIM_COLUMNS).where(WebhookDeliveryRow.webhook_id == webhook_id, IS_PENDING)
    if after is not None:
        query = query.where(WebhookDeliveryRow.event_id > after)
    query = query.order_by(WebhookDeliveryRow.event_id).limit(limit)
    async with db.read(in_loop=True) as s:
        rows = (await s.execute(query)).all()
        due = []
        for row in rows:
            if row.next_attempt_at is not None and row.next_attempt_at > now:
                break  # a retry not yet due: it holds back the rows after it
            due.append(row)
        if not due:
            return [], rows[0].next_attempt_at if rows else None
        return await _with_bodies(s, due, bodies), None
