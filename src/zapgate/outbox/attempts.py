"""One send attempt of a claimed outbox row, and its recorded outcome.

The lane (``sender.py``) has claimed the row (``sending``, ``attempts + 1``). The attempt
checks once per contact that the number is on WhatsApp, builds the message, sends it
with the stored id and records the outcome: ``sent``; ``queued`` again after a backoff
(a transient error); or ``failed`` (a permanent error, the number not on WhatsApp, or
the last allowed attempt).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime

from zapgate.domain.errors import DomainError, EngineError
from zapgate.domain.phones import phone_of_jid
from zapgate.outbox.outcomes import Outcomes, retry_at
from zapgate.outbox.outgoing import outgoing_message
from zapgate.outbox.ratelimit import DailyCounter, Pacer
from zapgate.services.lookups import CHECK_TTL
from zapgate.services.media import MediaStore
from zapgate.sessions.supervisor import Supervisor
from zapgate.store.db import Database
from zapgate.store.retryable import retryable
from zapgate.store.tables.messages import MessageRow
from zapgate.util.backoff import Backoff, BackoffConfig
from zapgate.util.clock import Clock

log = logging.getLogger(__name__)

# Transient send failures retry after 5 s, doubling to 10 minutes: long enough for a
# reconnect to finish, short enough that a customer is not left waiting an hour.
RETRY_BACKOFF = BackoffConfig(min_delay=5.0, max_delay=600.0, factor=2.0, jitter=0.2)
# How soon a message whose session was momentarily not running is tried again.
NOT_CONNECTED_RETRY = 2.0
# Recording a completed send is retried this often, up to this long apart, while the
# database refuses: the message went out, so it must not be sent again.
RECORD_RETRY = BackoffConfig(min_delay=0.5, max_delay=30.0, factor=2.0, jitter=0.2)


class SendAttempts:
    """Carries out the attempts of every lane; counts sends on the lanes' pacer and
    daily counter."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        supervisor: Supervisor,
        media: MediaStore,
        outcomes: Outcomes,
        *,
        pacer: Pacer,
        daily: DailyCounter,
        max_attempts: int,
        backoff: BackoffConfig,
        rng: random.Random,
        stop: asyncio.Event,
        pause: Callable[[float], Awaitable[None]],
    ) -> None:
        self._db = db
        self._clock = clock
        self._supervisor = supervisor
        self._media = media
        self._out = outcomes
        self._pacer = pacer
        self._daily = daily
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._rng = rng
        self._stop = stop
        self._pause = pause
        """Sleeps on the clock; stopping cuts it short."""
        self.unrecorded: set[str] = set()
        """Messages sent whose outcome the database has refused so far."""
        self.sends = 0

    async def run(self, row: MessageRow, per_minute: int) -> None:
        connection_id = row.connection_id
        assert connection_id is not None
        engine = self._supervisor.engine
        try:
            if not await self._on_whatsapp(row):
                await self._out.fail(
                    [row.id],
                    code="not_on_whatsapp",
                    message=f"{phone_of_jid(row.chat_jid)} is not on WhatsApp",
                    now=self._clock.now(),
                )
                return
            message = await outgoing_message(row, self._db, self._media)
        except DomainError as exc:
            await self._out.fail(
                [row.id], code=exc.code, message=exc.message, now=self._clock.now()
            )
            return
        except EngineError as exc:
            await self._failed(row, exc)
            return
        except Exception as exc:
            # Nothing was sent: an attempt like any failed one (retried, then failed).
            log.exception("preparing a send failed", extra={"message_id": row.id})
            await self._failed(row, EngineError("internal_error", type(exc).__name__))
            return
        self._pacer.record(connection_id, per_minute)
        try:
            result = await engine.send(connection_id, message)
        except EngineError as exc:
            await self._failed(row, exc)
            return
        except Exception as exc:
            log.exception("engine send raised", extra={"message_id": row.id})
            await self._failed(row, EngineError("engine_error", type(exc).__name__))
            return
        now = self._clock.now()
        self._daily.add(connection_id, now.date())
        self.sends += 1
        await self._record_sent(row, now, result.wa_message_id)

    async def _record_sent(self, row: MessageRow, now: datetime, wa_message_id: str) -> None:
        """Record a send that went out (``_recording``: retried while the database is
        away); the health check counts it as unrecorded meanwhile."""
        try:
            await self._recording(
                row.id, lambda: self._out.sent(row.id, now, wa_message_id=wa_message_id), "sent"
            )
        finally:
            self.unrecorded.discard(row.id)

    async def _recording(
        self, message_id: str, write: Callable[[], Awaitable[object]], what: str
    ) -> None:
        """Write an attempt's outcome, retrying while the database is unreachable or
        busy, or aborted it to break a deadlock (``store/retryable.py``). On stop (or any
        other error) the row stays ``sending`` for the sweep or the next start to
        recover: a send that went out is then resent with its id or failed as
        interrupted, one that did not is tried again. Without the retry a failure that
        sent nothing, written while the database was away, was failed as interrupted."""
        backoff = Backoff(RECORD_RETRY, self._rng)
        while True:
            try:
                await write()
                return
            except Exception as exc:
                if not retryable(exc):
                    raise
                if backoff.attempt == 0:
                    log.warning(
                        f"recording a {what} message failed; retrying",
                        extra={"message_id": message_id, "error": type(exc).__name__},
                    )
                if self._stop.is_set():
                    raise
                if what == "sent":
                    self.unrecorded.add(message_id)
                await self._pause(backoff.next_delay())

    async def _failed(self, row: MessageRow, exc: EngineError) -> None:
        await self._recording(row.id, lambda: self._record_failure(row, exc), "failed")

    async def _record_failure(self, row: MessageRow, exc: EngineError) -> None:
        now = self._clock.now()
        if exc.permanent:
            await self._out.fail([row.id], code=exc.code, message=exc.message, now=now)
            return
        if exc.code == "not_connected":
            # The session went away under us: not the message's fault, so no backoff;
            # the lane sees the connection is not ready and the message waits for it.
            await self._out.retry(
                row.id, at=retry_at(now, NOT_CONNECTED_RETRY), code=exc.code, message=exc.message
            )
            return
        if row.attempts >= self._max_attempts:
            await self._out.fail(
                [row.id],
                code=exc.code,
                message=f"{exc.message} (gave up after {row.attempts} attempts)",
                now=now,
            )
            return
        delay = self._backoff.delay(row.attempts, self._rng)
        await self._out.retry(row.id, at=retry_at(now, delay), code=exc.code, message=exc.message)

    async def _on_whatsapp(self, row: MessageRow) -> bool:
        """Ask WhatsApp once per new contact (cached on the contact) before messaging it."""
        phone = phone_of_jid(row.chat_jid)
        if phone is None or row.contact_id is None:
            return True
        contact = await self._out.contact(row.contact_id)
        now = self._clock.now()
        cached = contact is not None and contact.on_whatsapp is not None and contact.checked_at
        if cached and contact is not None and now - (contact.checked_at or now) < CHECK_TTL:
            return bool(contact.on_whatsapp)
        assert row.connection_id is not None
        checks = await self._supervisor.engine.check_numbers(row.connection_id, [phone])
        on = bool(checks and checks[0].on_whatsapp)
        await self._out.remember_check(row.contact_id, on, now)
        return on
