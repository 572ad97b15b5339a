"""One worker per webhook endpoint: claim due deliveries, POST them, record the outcome.

Each endpoint has its own loop, its own connections and its own concurrency slots, so a
slow or dead endpoint only ever delays itself. Deliveries live in the database
(``webhook_deliveries``); the worker keeps nothing that a restart could lose: a delivery
is ``pending`` until a 2xx is recorded, so a crash mid-request means one more attempt
(receivers de-duplicate by ``X-Zapgate-Delivery``), never a lost one.

The worker is a pipeline: it claims due rows (``claims``) whenever slots are free, each
request runs on its own (``attempts``), and each outcome is submitted, as soon as it is
known, to the group commit of the ``OutcomeRecorder`` (``outcomes``); the request's slot
is free by then. A claimed row stays in the in-memory ``_inflight`` set, which every
claim query excludes, until its outcome is committed, so a row is never sent twice at
once nor read as still pending after its success was written. An outcome that cannot be
written crashes the worker (the dispatcher restarts it): its row is still pending.

An ordered endpoint (``Endpoint.ordered``) runs the same loop with one slot: it claims
only the pending rows with the lowest event ids (one for a webhook, a batch for an
export: ``Transport.batch``), once nothing is in flight (the last outcomes committed,
written at once rather than grouped), and only those that are due, so a failed delivery
waiting for its retry holds back the later ones until it succeeds or is given up.

An export keeps several such batches in flight (``Transport.depth``, a pipeline): the
next batch is the pending rows after the last event id claimed, claimed and handed to
the transport while the earlier ones wait for their confirmations and their outcomes'
commits; the transport puts batches on the wire in the order they were handed over.
Once a batch comes back with a failure (or a delivery is made due again by hand), the
worker claims nothing more until every batch in flight is recorded, then claims from
the lowest pending row again: the failed one, which holds back the rest until its
retry. Batches the transport did not send because an earlier one failed come back
``held`` and are not recorded at all.

How deliveries leave is the endpoint's ``Transport`` (``transport``): a signed POST for
a webhook, a confirmed publish for an event export.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from zapgate.store.db import Database
from zapgate.store.groupcommit import GroupCommit
from zapgate.util.backoff import BackoffConfig
from zapgate.util.clock import Clock
from zapgate.webhooks.attempts import Attempt
from zapgate.webhooks.bodies import RecentBodies
from zapgate.webhooks.claims import Due, claim_due, claim_next_in_order
from zapgate.webhooks.outcomes import Outcome, OutcomeRecorder, RecordPolicy, expire_overdue
from zapgate.webhooks.pause import FailurePause
from zapgate.webhooks.transport import Endpoint, Transport

__all__ = ["DeliveryObserver", "DeliveryPolicy", "Endpoint", "WebhookWorker"]

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
    pause_after: int = 32
    """Failed attempts in a row that pause an unordered endpoint (``pause.py``)..."""
    probe_every: float = 10.0
    """...which is then sent one delivery every this many seconds until one succeeds."""

    def recording(self) -> RecordPolicy:
        return RecordPolicy(
            batch=self.batch,
            retry_window=self.retry_window,
            backoff=self.backoff,
            disable_after=self.disable_after,
            disable_min_failures=self.disable_min_failures,
        )


class DeliveryObserver(Protocol):
    def attempted(self, ok: bool, duration: float) -> None: ...

    def delivered(self, lag: float) -> None: ...


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or (b is not None and b < a):
        return b
    return a


MAY_CLAIM_RECHECK = 0.5
"""Seconds between asking ``may_claim`` again while it answers no."""


def _always() -> bool:
    return True


class WebhookWorker:
    def __init__(
        self,
        endpoint: Endpoint,
        *,
        transport: Transport,
        db: Database,
        clock: Clock,
        policy: DeliveryPolicy,
        observer: DeliveryObserver | None = None,
        on_disabled: Callable[[str], None] | None = None,
        bodies: RecentBodies | None = None,
        failed_in_a_row: int = 0,
        may_claim: Callable[[], bool] | None = None,
    ) -> None:
        """``failed_in_a_row``: the endpoint's recorded failure streak (``pause.py``).
        ``may_claim``: asked before each claim; while it answers no, nothing is claimed
        (a cluster's leader unsure it still holds the delivery lock)."""
        self.endpoint = endpoint
        self._may_claim = may_claim or _always
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
        self._transport = transport
        self.last_error: str | None = None
        """The error of the latest attempt, None after a success (readiness details)."""
        self._inflight: set[str] = set()
        """Claimed rows whose outcome is not committed yet: never claimed twice."""
        self._sending: set[asyncio.Task[None]] = set()
        """Each claimed group's task: its request, then the commit of its outcomes."""
        self._requests = 0
        """Requests in flight: the slots taken."""
        self._pipeline: list[set[str]] = []
        """The rows of each ordered batch some of whose rows are still in flight."""
        self._last_claimed: int | None = None
        """The highest event id in the pipeline: the next ordered batch follows it."""
        self._halted = False
        """Let the pipeline drain, then claim from the lowest pending row again."""
        self._record_error: Exception | None = None
        """Why an outcome of this run could not be written: the worker crashes with it."""
        self._pause = FailurePause(
            after=policy.pause_after,
            every=policy.probe_every,
            failed_in_a_row=0 if endpoint.ordered else failed_in_a_row,
        )
        """An unordered endpoint failing every attempt gets one probe at a time."""
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
        self._halted = True  # an ordered pipeline would claim only past that row
        self._pause.probe_now()
        self._wake.set()

    def update(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._transport.update(endpoint)
        self._pause.end()  # a changed endpoint (its URL fixed) is tried at once
        self.wake()

    @property
    def paused(self) -> bool:
        """Failing every attempt: one probe at a time (``pause.py``)."""
        return self._pause.paused

    def stop(self) -> None:
        self._stopping = True
        self.wake()

    async def aclose(self) -> None:
        await self._transport.aclose()

    # ------------------------------------------------------------ loop

    @property
    def stopped(self) -> bool:
        return self._stopping

    async def run(self) -> None:
        """Deliver until stopped; an exception escapes to the dispatcher, which restarts.

        On stop, requests in flight finish (each bounded by the timeout) and are
        recorded. On a crash they are abandoned, and so are the outcomes waiting for a
        group (their submitters, cancelled, withdraw them): those rows are still
        pending. The group being written is finished, so that a failed group's replay
        still writes the neighbours of the outcome that failed.
        """
        recorder = self._recorder.open()
        self._record_error = None
        try:
            await self._claim_loop(recorder)
            if self._sending:
                await asyncio.wait(self._sending)
        finally:
            for task in self._sending:
                task.cancel()
            await asyncio.gather(*self._sending, return_exceptions=True)
            await recorder.close()
            self._inflight.clear()
            self._requests = 0  # a task cancelled before it ran never gave its slot back
            self._pipeline, self._halted, self._last_claimed = [], False, None
        self._check_recording()

    async def _claim_loop(self, recorder: GroupCommit[Outcome, datetime | None]) -> None:
        limit = self._policy.concurrency
        while not self._stopping:
            self._wake.clear()
            self._slot_freed.clear()
            if not self._may_claim():
                # Nothing claimed, probed or expired: another node may be delivering.
                await self._wait({self._wake}, MAY_CLAIM_RECHECK)
                continue
            ordered = self.endpoint.ordered
            if ordered:
                # A batch follows those in flight, up to the transport's depth; after a
                # failure the next row is known only once the last outcome is committed.
                if not self._pipeline:
                    self._halted, self._last_claimed = False, None
                full = self._halted or len(self._pipeline) >= self._transport.depth
                free = 0 if full else 1
            elif self._pause.paused:
                # One probe at a time, once its time has come; new deliveries wait.
                now = self._clock.now()
                wait = self._pause.seconds_to_probe(now)
                if self._requests or wait > 0:
                    await self._wait(
                        {self._slot_freed, self._wake}, wait if not self._requests else None
                    )
                    continue
                expired = await expire_overdue(
                    self._db, self.endpoint.id, before=now - self._policy.retry_window
                )
                if expired:
                    log.warning(
                        "paused webhook: deliveries past the retry window failed untried",
                        extra={"webhook_id": self.endpoint.id, "count": expired},
                    )
                self._pause.probing()
                free = 1
            else:
                # Backpressure: no more claims while the recorder lags a batch behind.
                free = min(
                    limit - self._requests,
                    limit + self._policy.batch - len(self._inflight),
                    self._policy.batch,
                )
            if free <= 0:
                await self._wait({self._slot_freed, self._wake}, None)
                if not ordered and limit - self._requests < max(1, limit // 8):
                    await asyncio.sleep(CLAIM_COALESCE)
                continue
            # A retry the recorder schedules while the claim runs may be missing from
            # its answer: ``_recorded`` notes it in ``_next_due`` meanwhile.
            self._next_due = None
            batch, later = await (self._claim_next() if ordered else self._claim(free))
            self._next_due = _earliest(self._next_due, later)
            self.crashing = False
            if batch:
                self._start(batch, recorder)
            # A full claim may have left due rows behind: claim again as soon as there
            # is room (an ordered claim is one group of up to ``Transport.batch`` rows).
            if len(batch) == (self._transport.batch if ordered else free):
                continue
            # Everything due is in flight: sleep until new events or the next retry. A
            # retry scheduled meanwhile by the recorder moves the wake-up (``_retimed``)
            # without a claim query.
            while True:
                self._retimed.clear()
                await self._wait({self._wake, self._retimed}, self._sleep_time())
                if self._wake.is_set() or not self._retimed.is_set():
                    break

    def _sleep_time(self) -> float:
        poll = self._policy.idle_poll
        if self._next_due is None:
            return poll
        seconds = (self._next_due - self._clock.now()).total_seconds()
        return min(max(seconds, RETRY_COALESCE), poll)

    async def _wait(self, events: set[asyncio.Event], seconds: float | None) -> None:
        # A failed write sets ``_wake``, which the loop may have cleared since.
        self._check_recording()
        waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(e.wait()) for e in events}
        if seconds is not None:
            waiters.add(asyncio.ensure_future(self._clock.sleep(seconds)))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        self._check_recording()

    def _check_recording(self) -> None:
        if self._record_error is not None:
            raise self._record_error  # crash: the dispatcher restarts us

    async def _claim(self, limit: int) -> tuple[list[Due], datetime | None]:
        return await claim_due(
            self._db,
            self.endpoint.id,
            now=self._clock.now(),
            limit=limit,
            inflight=self._inflight,
            bodies=self._bodies,
            newest=self._pause.paused,
        )

    async def _claim_next(self) -> tuple[list[Due], datetime | None]:
        return await claim_next_in_order(
            self._db,
            self.endpoint.id,
            now=self._clock.now(),
            bodies=self._bodies,
            limit=self._transport.batch,
            after=self._last_claimed,
        )

    def _start(self, batch: list[Due], recorder: GroupCommit[Outcome, datetime | None]) -> None:
        # An ordered claim is sent as one group, in order; otherwise each delivery is
        # a request of its own.
        groups = [batch] if self.endpoint.ordered else [[due] for due in batch]
        if self.endpoint.ordered:
            self._pipeline.append({due.id for due in batch})
            self._last_claimed = batch[-1].event_id
        for group in groups:
            self._inflight.update(due.id for due in group)
            self._requests += 1
            task = asyncio.create_task(self._attempt(group, recorder))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _attempt(
        self, group: list[Due], recorder: GroupCommit[Outcome, datetime | None]
    ) -> None:
        ordered = self.endpoint.ordered
        try:
            outcomes = await self._send(group)
        finally:
            # The slot is the request's: its outcomes wait for their group without it.
            self._requests -= 1
            self._slot_freed.set()
        if ordered:
            if not all(o.ok and not o.held for o in outcomes):
                self._halted = True
            held = {o.delivery_id for o in outcomes if o.held}
            if held:
                self._inflight.difference_update(held)
                self._drained()
                outcomes = [o for o in outcomes if not o.held]
        # An ordered endpoint's next claims wait for these outcomes' commit: do not hold
        # them back to be grouped with others.
        results = await recorder.submit_many(outcomes, at_once=ordered)
        failed = next((r for r in results if isinstance(r, Exception)), None)
        if failed is not None and self._record_error is None:
            self._record_error = failed
            self._wake.set()

    def _recorded(self, outcomes: list[Outcome], now: datetime, retry_at: datetime | None) -> None:
        # Committed, so a claim query built from now on sees these rows settled (or
        # rescheduled); one built earlier still excludes them.
        self._inflight.difference_update(o.delivery_id for o in outcomes)
        if self._pipeline:
            self._drained()
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

    def _drained(self) -> None:
        """Forget the ordered batches none of whose rows is in flight any more."""
        self._pipeline = [rows for rows in self._pipeline if not rows.isdisjoint(self._inflight)]
        self._slot_freed.set()

    def _disable(self) -> None:
        self._stopping = True
        self._wake.set()
        if not self._disabled:
            self._disabled = True
            if self._on_disabled is not None:
                self._on_disabled(self.endpoint.id)

    def _note(self, tried: list[Attempt]) -> None:
        was = self._pause.paused
        now = self._clock.now()
        for attempt in tried:
            if self._pause.attempted(attempt.ok, now):
                log.warning(
                    "webhook paused: every attempt fails; one probe at a time",
                    extra={
                        "webhook_id": self.endpoint.id,
                        "failed_in_a_row": self._pause.failed_in_a_row,
                        "probe_every_s": self._policy.probe_every,
                        "error": attempt.error,
                    },
                )
        if was and not self._pause.paused:
            log.info("webhook answering again: pause ended", extra={"webhook_id": self.endpoint.id})

    async def _send(self, group: list[Due]) -> list[Attempt]:
        outcomes = await self._transport.send(group, now=self._clock.now())
        tried = [o for o in outcomes if not o.held]
        if tried:
            self.last_error = tried[-1].error
        if not self.endpoint.ordered:
            # A delivery whose event is gone fails for itself, not for the endpoint.
            self._note([o for o in tried if not o.event_gone])
        if self._observer is not None:
            for outcome in tried:
                self._observer.attempted(outcome.ok, outcome.duration_ms / 1000)
        return outcomes
