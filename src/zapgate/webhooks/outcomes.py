"""Recording webhook attempts: outcomes are written in small groups as they complete.

A worker submits each finished request's outcome to the group commit its
``OutcomeRecorder`` opens for it (``store.groupcommit``), which writes what has gathered
every ``RECORD_INTERVAL`` (or at once when ``batch`` are waiting) in one transaction:
the delivery rows, one ``webhook_attempts`` row each, and the endpoint's failure
streak. Waiting for a whole batch of requests to finish before recording any of them
made a fast endpoint's throughput a function of its slowest request; a group per
``RECORD_INTERVAL`` keeps the write transactions few (on SQLite each one takes the
single writer from whoever produces events) without tying requests together. When a
group's transaction fails, each of its outcomes is written again alone, so one bad
outcome does not send its neighbours' deliveries again.

Successes that share their whole outcome (an export's batch: one duration, no status
code, no answer) settle in one ``UPDATE`` (``_settle_alike``) instead of one per row:
the rows still as they were claimed, matched by ``(id, next_attempt_at)``, become
delivered; a row redelivered meanwhile only counts the attempt (a second statement,
when the first did not match every row).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, case, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.deliveries import DeliveryStatus
from zapgate.domain.events import EventType
from zapgate.events.log import append_event
from zapgate.store.db import Database
from zapgate.store.groupcommit import GroupCommit
from zapgate.store.tables import Base
from zapgate.store.tables.webhooks import WebhookAttemptRow, WebhookDeliveryRow, WebhookRow
from zapgate.util.backoff import BackoffConfig
from zapgate.util.clock import Clock, SystemClock
from zapgate.util.urls import masked

log = logging.getLogger(__name__)

RECORD_INTERVAL = 0.2
"""Seconds a finished attempt may wait to be written with others (real time: this
paces transactions, it is not a business delay)."""

# Core statements on the tables: no ORM identity map for rows this worker never reads.
_deliveries = Base.metadata.tables[WebhookDeliveryRow.__tablename__]
_attempts = Base.metadata.tables[WebhookAttemptRow.__tablename__]
_due_at = _deliveries.c.next_attempt_at
# Only an attempt on the row as it was claimed may settle it: if it was redelivered
# (``next_attempt_at`` moved to "now") while this request was in flight, the attempt is
# still counted and logged, but the row stays due and is sent again.
_unchanged = _due_at == bindparam("_claimed_due", type_=_due_at.type)


def _if_unchanged(name: str) -> Any:
    column = _deliveries.c[name]
    return case((_unchanged, bindparam(name, type_=column.type)), else_=column)


_step = (
    update(_deliveries)
    .where(_deliveries.c.id == bindparam("_id"))
    .values(
        attempts=_deliveries.c.attempts + 1,
        last_status_code=bindparam("last_status_code"),
        last_error=bindparam("last_error"),
        last_duration_ms=bindparam("last_duration_ms"),
        response_excerpt=bindparam("response_excerpt"),
        status=_if_unchanged("status"),
        next_attempt_at=_if_unchanged("next_attempt_at"),
        delivered_at=_if_unchanged("delivered_at"),
    )
)


ALIKE = 8
"""Successes with one outcome that are settled by one statement from this many on
(fewer: a row each, like failures, whose next attempts differ)."""


STREAK_RECHECK = 5.0
"""Seconds (on the clock's monotonic time) the recorder trusts the failure streak it
last read or wrote instead of reading the webhook row in every group. Only this
recorder changes the streak of a live endpoint (enabling one starts a new worker), but
a person or another process may disable it: that is noticed within this long (this
process's own changes stop the worker at once through the dispatcher)."""


@dataclass(frozen=True, slots=True)
class _Streak:
    count: int
    since: datetime | None


@dataclass(frozen=True, slots=True)
class RecordPolicy:
    batch: int
    retry_window: timedelta
    backoff: BackoffConfig
    disable_after: timedelta
    disable_min_failures: int


class Outcome(Protocol):
    """What the recorder needs to know about one finished attempt."""

    @property
    def delivery_id(self) -> str: ...
    @property
    def attempts_before(self) -> int: ...
    @property
    def claimed_due(self) -> datetime | None: ...
    @property
    def event_created_at(self) -> datetime: ...
    @property
    def event_gone(self) -> bool: ...
    @property
    def attempted_at(self) -> datetime: ...
    @property
    def status_code(self) -> int | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def excerpt(self) -> str | None: ...
    @property
    def duration_ms(self) -> int: ...
    @property
    def ok(self) -> bool: ...


class OutcomeRecorder:
    """Writes one endpoint's outcomes; keeps its failure streak across the worker's runs."""

    def __init__(
        self,
        webhook_id: str,
        *,
        db: Database,
        clock: Clock,
        policy: RecordPolicy,
        on_recorded: Callable[[list[Outcome], datetime, datetime | None], None],
        on_disabled: Callable[[], None],
    ) -> None:
        self.webhook_id = webhook_id
        self._db = db
        self._clock = clock
        self._policy = policy
        self._on_recorded = on_recorded
        self._on_disabled = on_disabled
        self._failing_logged = False
        self._streak: _Streak | None = None
        """The endpoint's failure streak as last read or written here (None: unknown)."""
        self._streak_read_at = 0.0
        self._now = clock.now()
        """When the last committed group was recorded (read by ``_committed``)."""
        self._disabled = False
        """Whether the last committed group found the endpoint disabled."""

    def open(self) -> GroupCommit[Outcome, datetime | None]:
        """A group commit for one run of the worker; each outcome answers its delivery's
        next attempt (None: delivered or given up). Submitters that are cancelled (the
        worker crashed) withdraw their outcomes: those rows are still pending.

        Closed at the end of the run (a closed one writes in its callers' tasks), so
        every run opens its own."""
        return GroupCommit(
            f"webhook-outcomes:{self.webhook_id}",
            self._write,
            # Real time, not the worker's clock: the interval paces transactions and is
            # no business delay, and tests drive the worker on a manual clock they do
            # not advance just to have outcomes written.
            clock=SystemClock(),
            max_items=self._policy.batch,
            max_wait=RECORD_INTERVAL,
            withdraw_cancelled=True,
            on_commit=self._committed,
        )

    # ------------------------------------------------------------ one group

    def _next_step(self, o: Outcome, now: datetime) -> dict[str, Any]:
        attempts = o.attempts_before + 1
        values: dict[str, Any] = {
            "_id": o.delivery_id,
            "_claimed_due": o.claimed_due,
            "last_status_code": o.status_code,
            "last_error": o.error,
            "last_duration_ms": o.duration_ms,
            "response_excerpt": o.excerpt,
            "status": DeliveryStatus.PENDING.value,
            "next_attempt_at": None,
            "delivered_at": None,
        }
        if o.ok:
            values["status"] = DeliveryStatus.DELIVERED.value
            values["delivered_at"] = now
        elif o.event_gone or now - o.event_created_at >= self._policy.retry_window:
            values["status"] = DeliveryStatus.FAILED.value
        else:
            delay = self._policy.backoff.delay(attempts)
            values["next_attempt_at"] = now + timedelta(seconds=delay)
        return values

    async def _write(self, group: list[Outcome]) -> list[datetime | None]:
        now = self._clock.now()
        alike: dict[tuple[int | None, int, str | None], list[Outcome]] = {}
        for o in group:
            if o.ok:
                alike.setdefault((o.status_code, o.duration_ms, o.excerpt), []).append(o)
        batches = [batch for batch in alike.values() if len(batch) >= ALIKE]
        in_batches = {id(o) for batch in batches for o in batch}
        steps = [self._next_step(o, now) for o in group if id(o) not in in_batches]
        attempts = [
            {
                "delivery_id": o.delivery_id,
                "attempted_at": o.attempted_at,
                "status_code": o.status_code,
                "duration_ms": o.duration_ms,
                "error": o.error,
                "response_excerpt": o.excerpt,
            }
            for o in group
        ]
        async with self._db.write(in_loop=True) as s:
            if steps:
                await s.execute(_step, steps)
            for batch in batches:
                await _settle_alike(s, batch, now)
            await s.execute(insert(_attempts), attempts)
            disabled, streak = await self._update_health(s, group, now)
        # Committed: nothing from here on may fail, or the group would be written again
        # (the worker is told in ``_committed``).
        self._streak = streak  # from now on what the row holds
        self._now, self._disabled = now, disabled
        retries = iter([v["next_attempt_at"] for v in steps])
        return [None if id(o) in in_batches else next(retries) for o in group]

    def _committed(self, group: list[Outcome], results: list[datetime | Exception | None]) -> None:
        # Called right after ``_write`` returned, before any other write: ``_now`` and
        # ``_disabled`` are that write's.
        retries = [r for r in results if isinstance(r, datetime)]
        self._on_recorded(group, self._now, min(retries, default=None))
        if self._disabled:
            self._on_disabled()

    async def _update_health(
        self, s: AsyncSession, group: list[Outcome], now: datetime
    ) -> tuple[bool, _Streak | None]:
        """Track the failure streak; disable a long-dead endpoint. Returns whether it is
        disabled (now, or already: by a person or another process), so the worker stops,
        and the streak as this transaction leaves it."""
        known = self._streak
        if known is None or self._clock.monotonic() - self._streak_read_at >= STREAK_RECHECK:
            hook = (
                await s.execute(
                    select(
                        WebhookRow.enabled, WebhookRow.failure_streak, WebhookRow.failing_since
                    ).where(WebhookRow.id == self.webhook_id)
                )
            ).one_or_none()
            if hook is None or not hook.enabled:
                return hook is not None, None
            known = _Streak(hook.failure_streak, hook.failing_since)
            self._streak_read_at = self._clock.monotonic()
        if any(o.ok for o in group):
            # Failures after the last success of this group start a new streak.
            tail = 0
            for o in reversed(group):
                if o.ok:
                    break
                tail += 1
            if known.count and self._failing_logged:
                log.info("webhook recovered", extra={"webhook_id": self.webhook_id})
                self._failing_logged = False
            after = _Streak(tail, now if tail else None)
            if known.count != tail or (known.since is None) != (tail == 0):
                await self._set(s, failure_streak=after.count, failing_since=after.since)
                return False, after
            return False, known
        since = known.since if known.count else None
        if since is None:
            since = now
            if not self._failing_logged:
                log.warning(
                    "webhook deliveries failing",
                    extra={"webhook_id": self.webhook_id, "error": group[-1].error},
                )
                self._failing_logged = True
        streak = known.count + len(group)
        policy = self._policy
        if streak >= policy.disable_min_failures and now - since >= policy.disable_after:
            endpoint = (
                await s.execute(
                    select(WebhookRow.organization_id, WebhookRow.url, WebhookRow.enabled).where(
                        WebhookRow.id == self.webhook_id
                    )
                )
            ).one_or_none()
            if endpoint is None or not endpoint.enabled:
                return endpoint is not None, None  # gone or disabled meanwhile: keep its reason
            reason = (
                f"disabled automatically at {now.isoformat()}: {streak} failed "
                f"attempts in a row since {since.isoformat()} "
                f"(last: {group[-1].error or 'no answer'})"
            )
            await self._set(
                s,
                failure_streak=streak,
                failing_since=since,
                enabled=False,
                disabled_reason=reason,
                updated_at=now,
            )
            await append_event(
                s,
                organization_id=endpoint.organization_id,
                type=EventType.WEBHOOK_DISABLED,
                # An export's URL carries its broker's password: never into the event log.
                data={
                    "id": self.webhook_id,
                    "url": masked(endpoint.url),
                    "disabled_reason": reason,
                },
                created_at=now,
            )
            log.warning("webhook disabled", extra={"webhook_id": self.webhook_id})
            return True, None
        await self._set(s, failure_streak=streak, failing_since=since)
        return False, _Streak(streak, since)

    async def _set(self, s: AsyncSession, **values: Any) -> None:
        await s.execute(update(WebhookRow).where(WebhookRow.id == self.webhook_id).values(**values))


async def _settle_alike(s: AsyncSession, batch: list[Outcome], now: datetime) -> None:
    """Successes sharing one outcome, in one statement (two when a row was redelivered
    while in flight: it counts the attempt and stays due, as ``_step`` leaves it)."""
    first = batch[0]
    counted = {
        "attempts": _deliveries.c.attempts + 1,
        "last_status_code": first.status_code,
        "last_error": None,
        "last_duration_ms": first.duration_ms,
        "response_excerpt": first.excerpt,
    }
    ids = _deliveries.c.id.in_([o.delivery_id for o in batch])
    claimed = tuple_(_deliveries.c.id, _due_at).in_([(o.delivery_id, o.claimed_due) for o in batch])
    settled = await s.execute(
        update(_deliveries)
        .where(ids, claimed)  # ``ids`` for the primary key: SQLite scans for a row value
        .values(
            **counted,
            status=DeliveryStatus.DELIVERED.value,
            next_attempt_at=None,
            delivered_at=now,
        )
    )
    if settled.rowcount != len(batch):  # type: ignore[attr-defined]
        # The others were redelivered meanwhile (``next_attempt_at`` moved): a settled
        # row's is NULL now, so it is not among them.
        await s.execute(update(_deliveries).where(ids, ~claimed).values(**counted))


OVERDUE = "not tried: the endpoint failed every attempt until the retry window passed"


async def expire_overdue(db: Database, webhook_id: str, *, before: datetime) -> int:
    """Fail the pending deliveries of a paused endpoint (``pause.py``) whose event is
    older than ``before`` (the retry window): a paused endpoint tries only one of them
    now and then, and the others would otherwise outlive the window untried."""
    async with db.write(in_loop=True) as s:
        result = await s.execute(
            update(_deliveries)
            .where(
                _deliveries.c.webhook_id == webhook_id,
                _deliveries.c.status == DeliveryStatus.PENDING.value,
                _deliveries.c.created_at < before,
                # A redelivery asked by hand (due again since) gets its own window.
                _deliveries.c.next_attempt_at < before,
            )
            .values(status=DeliveryStatus.FAILED.value, next_attempt_at=None, last_error=OVERDUE)
        )
    return int(getattr(result, "rowcount", 0) or 0)
