"""One worker per webhook endpoint: claim due deliveries, POST them, record the outcome.

Each endpoint has its own loop, its own connections and its own concurrency slots, so a
slow or dead endpoint only ever delays itself. Deliveries live in the database
(``webhook_deliveries``); the worker keeps nothing that a restart could lose: a delivery
is ``pending`` until a 2xx is recorded, so a crash mid-request means one more attempt
(receivers de-duplicate by ``X-Zapgate-Delivery``), never a lost one.

The worker is a pipeline: it claims due rows whenever slots are free, each request
runs on its own, and each outcome goes to the ``OutcomeRecorder`` as soon as it is
known (``webhook_record.py``). A claimed row stays in the in-memory ``_inflight`` set,
which every claim query excludes, until its outcome is committed, so a row is never
sent twice at once nor read as still pending after its success was written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select

from zapgate import __version__
from zapgate.domain.text import without_nul
from zapgate.events.log import to_event
from zapgate.outbox.bodies import RecentBodies, encode_body
from zapgate.outbox.fanout import DELIVERY_PENDING
from zapgate.outbox.signing import signature
from zapgate.outbox.webhook_http import PostError, WebhookHttp
from zapgate.outbox.webhook_record import Outcome, OutcomeRecorder, RecordPolicy
from zapgate.store.db import Database
from zapgate.store.tables import EventRow, WebhookDeliveryRow
from zapgate.util.backoff import BackoffConfig
from zapgate.util.clock import Clock

log = logging.getLogger(__name__)

CLAIM_COALESCE = 0.05
"""When a full endpoint frees a slot, wait this long (real time) unless an eighth of its
slots are free, so one claim fills several: a slow endpoint frees them one at a time,
and a claim query (which skips every row in flight) per freed slot is wasted work."""
RETRY_COALESCE = 0.1
"""A worker sleeping until its next retry sleeps at least this long, so retries that
fall due close together (backoff jitter spreads one failed group over seconds) go out
with one claim instead of one claim each; a retry is at most this much late."""


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    timeout: float = 10.0
    allow_private: bool = False
    concurrency: int = 16
    """Requests in flight per endpoint."""
    batch: int = 200
    """Most rows one claim reads, and most outcomes one write records."""
    retry_window: timedelta = timedelta(hours=24)
    """A delivery is retried until this long after its event, then marked failed."""
    backoff: BackoffConfig = field(
        default_factory=lambda: BackoffConfig(min_delay=10.0, max_delay=3600.0, jitter=0.25)
    )
    disable_after: timedelta = timedelta(hours=72)
    """An endpoint failing for this long without one success is disabled..."""
    disable_min_failures: int = 20
    """...provided it also failed at least this many attempts in a row (a quiet
    endpoint that failed twice three days apart is not a dead one)."""
    idle_poll: float = 30.0
    """Fallback wake-up when no commit notification arrives (another process wrote)."""

    def recording(self) -> RecordPolicy:
        return RecordPolicy(
            batch=self.batch,
            retry_window=self.retry_window,
            backoff=self.backoff,
            disable_after=self.disable_after,
            disable_min_failures=self.disable_min_failures,
        )


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    organization_id: str
    url: str
    secret: str


class DeliveryObserver(Protocol):
    def attempted(self, ok: bool, duration: float) -> None: ...

    def delivered(self, lag: float) -> None: ...


@dataclass(slots=True)
class _Due:
    id: str
    event_type: str
    attempts: int
    due_at: datetime | None
    created_at: datetime
    body: bytes | None
    """None when the event was pruned from the log before it could be delivered."""


@dataclass(slots=True)
class _Outcome:
    due: _Due
    attempted_at: datetime
    status_code: int | None = None
    error: str | None = None
    excerpt: str | None = None
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300

    # What the recorder reads (``webhook_record.Outcome``).
    @property
    def delivery_id(self) -> str:
        return self.due.id

    @property
    def attempts_before(self) -> int:
        return self.due.attempts

    @property
    def claimed_due(self) -> datetime | None:
        return self.due.due_at

    @property
    def event_created_at(self) -> datetime:
        return self.due.created_at

    @property
    def event_gone(self) -> bool:
        return self.due.body is None


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or (b is not None and b < a):
        return b
    return a


_CLAIM_COLUMNS = (
    WebhookDeliveryRow.id,
    WebhookDeliveryRow.event_id,
    WebhookDeliveryRow.event_type,
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


class WebhookWorker:
    def __init__(
        self,
        endpoint: Endpoint,
        *,
        db: Database,
        clock: Clock,
        policy: DeliveryPolicy,
        observer: DeliveryObserver | None = None,
        on_disabled: Callable[[str], None] | None = None,
        bodies: RecentBodies | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._bodies = bodies or RecentBodies()
        self._db = db
        self._clock = clock
        self._policy = policy
        self._observer = observer
        self._on_disabled = on_disabled
        self._wake = asyncio.Event()
        """Claim now: new rows, a changed endpoint, or stopping."""
        self._slot_freed = asyncio.Event()
        self._retimed = asyncio.Event()
        """``_next_due`` moved earlier: recompute the sleep, no claim needed."""
        self._next_due: datetime | None = None
        """When the worker plans to claim again if nothing wakes it (None: idle poll)."""
        self._claim_after_record = False
        self._stopping = False
        self._disabled = False
        self.crashing = False
        """True from a restart until the database answers again (readiness shows it)."""
        # The client checks the URL's addresses on every new connection and connects to
        # one of those (``webhook_http``): a check here, before it resolves again, would
        # be the check a rebinding DNS name passes.
        self._http = WebhookHttp(
            user_agent=f"zapgate-webhooks/{__version__}",
            max_idle=policy.concurrency,
            allow_private=policy.allow_private,
        )
        self._inflight: set[str] = set()
        """Claimed rows whose outcome is not committed yet: never claimed twice."""
        self._sending: set[asyncio.Task[None]] = set()
        self._recorder = OutcomeRecorder(
            endpoint.id,
            db=db,
            clock=clock,
            policy=policy.recording(),
            on_recorded=self._recorded,
            on_disabled=self._disable,
        )

    def wake(self) -> None:
        self._wake.set()

    def requeued(self) -> None:
        """A row was made due again (manual redelivery): claim now, and once more after
        the next outcomes are recorded, in case that row was in flight (its outcome then
        leaves it due, but it was excluded from the claim)."""
        self._claim_after_record = True
        self._wake.set()

    def update(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.wake()

    def stop(self) -> None:
        self._stopping = True
        self.wake()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------ loop

    @property
    def stopped(self) -> bool:
        return self._stopping

    async def run(self) -> None:
        """Deliver until stopped; an exception escapes to the dispatcher, which restarts.

        On stop, requests in flight finish (each bounded by the timeout) and are
        recorded. On a crash they are abandoned: their rows are still pending.
        """
        recorder = asyncio.create_task(
            self._recorder.run(), name=f"webhook-recorder:{self.endpoint.id}"
        )
        try:
            await self._claim_loop(recorder)
            if self._sending:
                await asyncio.wait(self._sending)
            self._recorder.close()
            await recorder
        finally:
            for task in (*self._sending, recorder):
                task.cancel()
            await asyncio.gather(*self._sending, recorder, return_exceptions=True)
            self._recorder.discard()
            self._inflight.clear()

    async def _claim_loop(self, recorder: asyncio.Task[None]) -> None:
        limit = self._policy.concurrency
        while not self._stopping:
            self._wake.clear()
            self._slot_freed.clear()
            # Backpressure: no more claims while the recorder lags a whole batch behind.
            free = min(
                limit - len(self._sending),
                limit + self._policy.batch - len(self._inflight),
                self._policy.batch,
            )
            if free <= 0:
                await self._wait({self._slot_freed, self._wake}, recorder, None)
                if limit - len(self._sending) < max(1, limit // 8):
                    await asyncio.sleep(CLAIM_COALESCE)
                continue
            # A retry the recorder schedules while the claim runs may be missing from
            # its answer: ``_recorded`` notes it in ``_next_due`` meanwhile.
            self._next_due = None
            batch, later = await self._claim(free)
            self._next_due = _earliest(self._next_due, later)
            self.crashing = False
            if batch:
                self._start(batch)
            if len(batch) == free:
                continue
            # Everything due is in flight: sleep until new events or the next retry. A
            # retry scheduled meanwhile by the recorder moves the wake-up (``_retimed``)
            # without a claim query.
            while True:
                self._retimed.clear()
                await self._wait({self._wake, self._retimed}, recorder, self._sleep_time())
                if self._wake.is_set() or not self._retimed.is_set():
                    break

    def _sleep_time(self) -> float:
        poll = self._policy.idle_poll
        if self._next_due is None:
            return poll
        seconds = (self._next_due - self._clock.now()).total_seconds()
        return min(max(seconds, RETRY_COALESCE), poll)

    async def _wait(
        self, events: set[asyncio.Event], recorder: asyncio.Task[None], seconds: float | None
    ) -> None:
        waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(e.wait()) for e in events}
        if seconds is not None:
            waiters.add(asyncio.ensure_future(self._clock.sleep(seconds)))
        try:
            await asyncio.wait({*waiters, recorder}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        if recorder.done():
            recorder.result()  # the write failed: crash, the dispatcher restarts us
            raise RuntimeError("webhook recorder ended unexpectedly")

    async def _claim(self, limit: int) -> tuple[list[_Due], datetime | None]:
        """Up to ``limit`` due rows not in flight, oldest due first; and, when that is
        all of them, when the next pending row falls due (None: nothing pending)."""
        now = self._clock.now()
        hook = WebhookDeliveryRow.webhook_id == self.endpoint.id
        pending = WebhookDeliveryRow.status == DELIVERY_PENDING
        query = (
            select(*_CLAIM_COLUMNS)
            .where(
                hook,
                pending,
                WebhookDeliveryRow.next_attempt_at <= now,
                WebhookDeliveryRow.id.not_in(self._inflight),
            )
            .order_by(WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.event_id)
            .limit(limit)
        )
        later: datetime | None = None
        async with self._db.read(in_loop=True) as s:
            rows = (await s.execute(query)).all()
            # Bodies of the events just committed here are remembered; others (older, a
            # retry after a restart, a slow endpoint's backlog) are read from the log.
            bodies = {r.event_id: self._bodies.get(r.event_id) for r in rows}
            unknown = [event_id for event_id, body in bodies.items() if body is None]
            if unknown:
                found = await s.execute(select(*_EVENT_COLUMNS).where(EventRow.id.in_(unknown)))
                for e in found:
                    bodies[e.id] = encode_body(to_event(e))
            if len(rows) < limit:
                # Every row due at ``now`` is claimed or in flight (and a row in flight
                # was due then too), so the next one is the earliest due after ``now``:
                # no need to list the rows in flight again.
                later = await s.scalar(
                    select(func.min(WebhookDeliveryRow.next_attempt_at)).where(
                        hook, pending, WebhookDeliveryRow.next_attempt_at > now
                    )
                )
        due = [
            _Due(
                id=r.id,
                event_type=r.event_type,
                attempts=r.attempts,
                due_at=r.next_attempt_at,
                created_at=r.created_at,
                body=bodies[r.event_id],  # None: pruned from the log before delivery
            )
            for r in rows
        ]
        return due, later

    def _start(self, batch: list[_Due]) -> None:
        for due in batch:
            self._inflight.add(due.id)
            task = asyncio.create_task(self._attempt(due))
            self._sending.add(task)
            task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        self._slot_freed.set()

    async def _attempt(self, due: _Due) -> None:
        outcome = await self._send(due)
        self._recorder.add(outcome)

    def _recorded(self, outcomes: list[Outcome], now: datetime, retry_at: datetime | None) -> None:
        # Committed, so a claim query built from now on sees these rows settled (or
        # rescheduled); one built earlier still excludes them.
        self._inflight.difference_update(o.delivery_id for o in outcomes)
        self._slot_freed.set()
        if self._claim_after_record:
            self._claim_after_record = False
            self._wake.set()
        # A failure rescheduled sooner than the worker's planned wake-up must not wait
        # for it; a later one is found by the claim at that wake-up.
        if retry_at is not None and _earliest(self._next_due, retry_at) is retry_at:
            self._next_due = retry_at
            self._retimed.set()
        if self._observer is not None:
            for o in outcomes:
                if o.ok:
                    self._observer.delivered((now - o.event_created_at).total_seconds())

    def _disable(self) -> None:
        self._stopping = True
        self._wake.set()
        if not self._disabled:
            self._disabled = True
            if self._on_disabled is not None:
                self._on_disabled(self.endpoint.id)

    async def _send(self, due: _Due) -> _Outcome:
        outcome = _Outcome(due=due, attempted_at=self._clock.now())
        if due.body is None:
            outcome.error = "event no longer in the log (retention)"
            return outcome
        stamp = int(outcome.attempted_at.timestamp())
        headers = {
            "Content-Type": "application/json",
            "X-Zapgate-Event": due.event_type,
            "X-Zapgate-Delivery": due.id,
            "X-Zapgate-Signature": signature(self.endpoint.secret, stamp, due.body),
        }
        started = time.perf_counter()
        try:
            answer = await self._http.post(
                self.endpoint.url, due.body, headers, timeout=self._policy.timeout
            )
            outcome.status_code = answer.status
            # The receiver's words, stored: PostgreSQL cannot hold a NUL among them.
            outcome.excerpt = without_nul(answer.excerpt.decode("utf-8", "replace")) or None
            if not outcome.ok:
                outcome.error = f"HTTP {answer.status}"
        except TimeoutError:
            outcome.error = f"timed out after {self._policy.timeout:g} s"
        except PostError as exc:
            outcome.error = str(exc)[:500]
        outcome.duration_ms = int((time.perf_counter() - started) * 1000)
        if self._observer is not None:
            self._observer.attempted(outcome.ok, outcome.duration_ms / 1000)
        return outcome
