"""One worker per webhook endpoint: claim due deliveries, POST them, record the outcome.

Each endpoint has its own loop, its own HTTP connection pool and its own concurrency
slots, so a slow or dead endpoint only ever delays itself. Deliveries live in the
database (``webhook_deliveries``); the worker keeps nothing that a restart could lose:
a delivery is ``pending`` until a 2xx is recorded, so a crash mid-request means one
more attempt (receivers de-duplicate by ``X-Zapgate-Delivery``), never a lost one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate import __version__
from zapgate.domain.errors import Invalid
from zapgate.domain.events import EventType
from zapgate.events.log import append_event, to_event
from zapgate.outbox.fanout import DELIVERY_DELIVERED, DELIVERY_FAILED, DELIVERY_PENDING
from zapgate.outbox.signing import signature
from zapgate.outbox.urls import check_url
from zapgate.store.db import Database
from zapgate.store.tables import EventRow, WebhookAttemptRow, WebhookDeliveryRow, WebhookRow
from zapgate.util.backoff import BackoffConfig
from zapgate.util.clock import Clock

log = logging.getLogger(__name__)

EXCERPT_BYTES = 1024
URL_RECHECK_SECONDS = 60.0
POOL_SHARD = 16


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    timeout: float = 10.0
    allow_private: bool = False
    concurrency: int = 16
    """Requests in flight per endpoint."""
    batch: int = 200
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
    event_id: int
    event_type: str
    attempts: int
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


def encode_body(row: EventRow) -> bytes:
    return json.dumps(to_event(row).envelope(), separators=(",", ":"), ensure_ascii=False).encode()


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
    ) -> None:
        self.endpoint = endpoint
        self._db = db
        self._clock = clock
        self._policy = policy
        self._observer = observer
        self._on_disabled = on_disabled
        self._wake = asyncio.Event()
        self._stopping = False
        self._slots = asyncio.Semaphore(policy.concurrency)
        self._url_checked_at: float | None = None
        self._url_error: str | None = None
        self._failing_logged = False
        self.crashing = False
        """True from a restart until the database answers again (readiness shows it)."""
        # Several small pools rather than one large one: httpcore scans every pooled
        # connection for each request it places, which turns quadratic (and ate most of
        # the CPU in bench/webhooks.py) once one pool holds hundreds of connections.
        shards = max(1, -(-policy.concurrency // POOL_SHARD))
        per_shard = -(-policy.concurrency // shards)
        self._pools = [
            httpx.AsyncClient(
                timeout=policy.timeout,
                # Redirects are not followed: a public URL must not bounce us into the LAN.
                follow_redirects=False,
                limits=httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard),
                headers={"User-Agent": f"zapgate-webhooks/{__version__}"},
            )
            for _ in range(shards)
        ]
        self._next_pool = 0

    def wake(self) -> None:
        self._wake.set()

    def update(self, endpoint: Endpoint) -> None:
        if endpoint.url != self.endpoint.url:
            self._url_checked_at = None
        self.endpoint = endpoint
        self.wake()

    def stop(self) -> None:
        self._stopping = True
        self.wake()

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()

    # ------------------------------------------------------------ loop

    @property
    def stopped(self) -> bool:
        return self._stopping

    async def run(self) -> None:
        """Deliver until stopped; an exception escapes to the dispatcher, which restarts."""
        while not self._stopping:
            self._wake.clear()
            batch = await self._claim()
            self.crashing = False
            if batch:
                await self._deliver(batch)
                continue
            await self._idle(await self._seconds_to_next())

    async def _idle(self, seconds: float | None) -> None:
        wait = self._policy.idle_poll if seconds is None else min(seconds, self._policy.idle_poll)
        waker = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self._clock.sleep(wait))
        try:
            await asyncio.wait({waker, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waker, sleeper):
                task.cancel()

    async def _seconds_to_next(self) -> float | None:
        async with self._db.read() as s:
            due = await s.scalar(
                select(func.min(WebhookDeliveryRow.next_attempt_at)).where(
                    WebhookDeliveryRow.webhook_id == self.endpoint.id,
                    WebhookDeliveryRow.status == DELIVERY_PENDING,
                )
            )
        if due is None:
            return None
        return max(0.0, (due - self._clock.now()).total_seconds())

    async def _claim(self) -> list[_Due]:
        limit = max(self._policy.batch, self._policy.concurrency)
        query = (
            select(WebhookDeliveryRow, EventRow)
            .join(EventRow, EventRow.id == WebhookDeliveryRow.event_id, isouter=True)
            .where(
                WebhookDeliveryRow.webhook_id == self.endpoint.id,
                WebhookDeliveryRow.status == DELIVERY_PENDING,
                WebhookDeliveryRow.next_attempt_at <= self._clock.now(),
            )
            .order_by(WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.event_id)
            .limit(limit)
        )
        async with self._db.read() as s:
            rows = (await s.execute(query)).all()
        return [
            _Due(
                id=d.id,
                event_id=d.event_id,
                event_type=d.event_type,
                attempts=d.attempts,
                created_at=d.created_at,
                body=encode_body(e) if e is not None else None,
            )
            for d, e in rows
        ]

    async def _deliver(self, batch: list[_Due]) -> None:
        refused = await self._url_refused()
        outcomes = await asyncio.gather(*(self._send(due, refused) for due in batch))
        await self._record(list(outcomes))

    async def _url_refused(self) -> str | None:
        if self._policy.allow_private:
            return None
        now = time.monotonic()
        if self._url_checked_at is None or now - self._url_checked_at > URL_RECHECK_SECONDS:
            try:
                await check_url(self.endpoint.url, allow_private=False)
                self._url_error = None
            except Invalid as exc:
                self._url_error = exc.message
            self._url_checked_at = now
        return self._url_error

    async def _send(self, due: _Due, refused: str | None) -> _Outcome:
        outcome = _Outcome(due=due, attempted_at=self._clock.now())
        if due.body is None:
            outcome.error = "event no longer in the log (retention)"
            return outcome
        if refused is not None:
            outcome.error = refused
            return outcome
        stamp = int(outcome.attempted_at.timestamp())
        headers = {
            "Content-Type": "application/json",
            "X-Zapgate-Event": due.event_type,
            "X-Zapgate-Delivery": due.id,
            "X-Zapgate-Signature": signature(self.endpoint.secret, stamp, due.body),
        }
        async with self._slots:
            started = time.perf_counter()
            try:
                # One deadline for the whole exchange: httpx's timeouts are per read,
                # and a receiver trickling its answer must not hold a slot forever.
                async with asyncio.timeout(self._policy.timeout):
                    await self._post(due.body, headers, outcome)
            except TimeoutError:
                outcome.error = f"timed out after {self._policy.timeout:g} s"
            except httpx.HTTPError as exc:
                outcome.error = f"{type(exc).__name__}: {exc}"[:500]
            outcome.duration_ms = int((time.perf_counter() - started) * 1000)
        if self._observer is not None:
            self._observer.attempted(outcome.ok, outcome.duration_ms / 1000)
        return outcome

    async def _post(self, body: bytes, headers: dict[str, str], outcome: _Outcome) -> None:
        pool = self._pools[self._next_pool % len(self._pools)]
        self._next_pool += 1
        request = pool.build_request("POST", self.endpoint.url, content=body, headers=headers)
        response = await pool.send(request, stream=True)
        try:
            outcome.status_code = response.status_code
            excerpt = b""
            async for chunk in response.aiter_raw():
                excerpt += chunk
                if len(excerpt) >= EXCERPT_BYTES:
                    break
            outcome.excerpt = excerpt[:EXCERPT_BYTES].decode("utf-8", "replace") or None
        finally:
            await response.aclose()
        if not outcome.ok:
            outcome.error = f"HTTP {response.status_code}"

    # ------------------------------------------------------------ recording

    def _next_step(self, outcome: _Outcome, now: datetime) -> dict[str, Any]:
        due = outcome.due
        attempts = due.attempts + 1
        values: dict[str, Any] = {
            "id": due.id,
            "attempts": attempts,
            "last_status_code": outcome.status_code,
            "last_error": outcome.error,
            "last_duration_ms": outcome.duration_ms,
            "response_excerpt": outcome.excerpt,
            "status": DELIVERY_PENDING,
            "next_attempt_at": None,
            "delivered_at": None,
        }
        if outcome.ok:
            values["status"] = DELIVERY_DELIVERED
            values["delivered_at"] = now
        elif due.body is None or now - due.created_at >= self._policy.retry_window:
            values["status"] = DELIVERY_FAILED
        else:
            delay = self._policy.backoff.delay(attempts)
            values["next_attempt_at"] = now + timedelta(seconds=delay)
        return values

    async def _record(self, outcomes: list[_Outcome]) -> None:
        now = self._clock.now()
        steps = [self._next_step(o, now) for o in outcomes]
        successes = sum(1 for o in outcomes if o.ok)
        disabled = False
        async with self._db.write() as s:
            await s.execute(update(WebhookDeliveryRow), steps)
            await s.execute(
                insert(WebhookAttemptRow),
                [
                    {
                        "delivery_id": o.due.id,
                        "attempted_at": o.attempted_at,
                        "status_code": o.status_code,
                        "duration_ms": o.duration_ms,
                        "error": o.error,
                        "response_excerpt": o.excerpt,
                    }
                    for o in outcomes
                ],
            )
            disabled = await self._update_health(s, outcomes, successes, now)
        if self._observer is not None:
            for o in outcomes:
                if o.ok:
                    self._observer.delivered((now - o.due.created_at).total_seconds())
        if disabled:
            self._stopping = True
            if self._on_disabled is not None:
                self._on_disabled(self.endpoint.id)

    async def _update_health(
        self, s: AsyncSession, outcomes: list[_Outcome], successes: int, now: datetime
    ) -> bool:
        """Track the failure streak; disable a long-dead endpoint. True when disabled."""
        hook = await s.get(WebhookRow, self.endpoint.id)
        if hook is None or not hook.enabled:
            return hook is not None
        if successes:
            if hook.failure_streak and self._failing_logged:
                log.info("webhook recovered", extra={"webhook_id": hook.id})
                self._failing_logged = False
            # Failures after the last success of this batch start a new streak.
            tail = 0
            for o in reversed(outcomes):
                if o.ok:
                    break
                tail += 1
            hook.failure_streak = tail
            hook.failing_since = now if tail else None
            return False
        if not hook.failure_streak:
            hook.failing_since = now
            if not self._failing_logged:
                log.warning(
                    "webhook deliveries failing",
                    extra={"webhook_id": hook.id, "error": outcomes[-1].error},
                )
                self._failing_logged = True
        hook.failure_streak += len(outcomes)
        since = hook.failing_since or now
        if (
            hook.failure_streak >= self._policy.disable_min_failures
            and now - since >= self._policy.disable_after
        ):
            hook.enabled = False
            hook.disabled_reason = (
                f"disabled automatically at {now.isoformat()}: {hook.failure_streak} failed "
                f"attempts in a row since {since.isoformat()} "
                f"(last: {outcomes[-1].error or 'no answer'})"
            )
            hook.updated_at = now
            await append_event(
                s,
                organization_id=hook.organization_id,
                type=EventType.WEBHOOK_DISABLED,
                data={"id": hook.id, "url": hook.url, "disabled_reason": hook.disabled_reason},
                created_at=now,
            )
            log.warning("webhook disabled", extra={"webhook_id": hook.id})
            return True
        return False
