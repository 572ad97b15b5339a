"""One runner per connection: the state machine between the engine and the database.

Commands (start, stop, reconnect, logout, pairing code, delete) and lifecycle events
from the engine are handled one at a time under the runner's lock, so two concurrent
starts open one session, and a stop never races a reconnect. Messages, receipts and
other traffic are passed to the listeners in order but outside that lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from zapgate.domain.errors import Conflict
from zapgate.domain.events import EventType
from zapgate.domain.states import ConnectionState, can_transition
from zapgate.engines.base import (
    ClientOutdated,
    Connected,
    ConnectFailure,
    Disconnected,
    Engine,
    EngineError,
    EngineEvent,
    EngineFault,
    KeepAlive,
    LinkTimedOut,
    LoggedOut,
    Paired,
    PairingCode,
    QrIssued,
    SessionSpec,
    StreamReplaced,
    TemporaryBan,
)
from zapgate.sessions.recorder import Change, ConnectionRecorder
from zapgate.store.tables import ConnectionRow
from zapgate.util.backoff import Backoff, BackoffConfig
from zapgate.util.clock import Clock
from zapgate.util.tasks import TaskOwner

log = logging.getLogger(__name__)

S = ConnectionState
TrafficListener = Callable[[str, str, Sequence[EngineEvent]], Awaitable[None]]
"""Called with (organization_id, connection_id, events) for messages and other traffic,
in order; the events are handled (committed) when the call returns."""

TRAFFIC_BATCH = 256
"""Traffic events already queued behind one travel with it to the listeners."""

_LIFECYCLE = (
    QrIssued,
    LinkTimedOut,
    Paired,
    Connected,
    Disconnected,
    LoggedOut,
    StreamReplaced,
    TemporaryBan,
    ClientOutdated,
    ConnectFailure,
    KeepAlive,
    EngineFault,
)


class Runner:
    def __init__(
        self,
        row: ConnectionRow,
        *,
        engine: Engine,
        recorder: ConnectionRecorder,
        clock: Clock,
        backoff: BackoffConfig,
        owner: TaskOwner,
        listeners: list[TrafficListener],
    ) -> None:
        self.connection_id = row.id
        self.organization_id = row.organization_id
        self.state = S(row.state)
        self.linked = row.linked
        self.jid = row.jid
        self.push_name = row.push_name
        self.qr: QrIssued | None = None
        self.qr_expired = False
        self.pairing: PairingCode | None = None
        self.deleted = False
        self._engine = engine
        self._recorder = recorder
        self._clock = clock
        self._backoff = Backoff(backoff)
        self._backoff.attempt = row.attempt
        self._owner = owner
        self._listeners = listeners
        self._lock = asyncio.Lock()
        self._queue: asyncio.Queue[EngineEvent] = asyncio.Queue()
        self._retry: asyncio.Task[Any] | None = None
        self._settled = asyncio.Event()
        self._settled.set()
        self._consumer = owner.spawn(self._consume(), name=f"events:{row.id}")

    # ------------------------------------------------------------ commands

    async def start(self) -> None:
        """Begin linking, or resume a linked device. A running connection is left as is."""
        async with self._lock:
            if self.state.is_active and self.state is not S.RECONNECTING:
                return
            self._cancel_retry()
            self._backoff.reset()
            await self._open("started")

    async def resume(self) -> None:
        """Open the session after a server restart (the supervisor staggers these).

        The connection stays ``reconnecting`` until the engine reports the outcome:
        writing an ``initializing`` step for each of a thousand restored sessions would
        double the writes of a restart for a state nobody can act on.
        """
        async with self._lock:
            if self.state is not S.RECONNECTING or self.deleted:
                return
            self._cancel_retry()
            self._settled.clear()
            await self._open("restored after restart", announce=False)

    async def stop(self) -> None:
        async with self._lock:
            self._cancel_retry()
            if not self.state.is_active:
                return
            await self._engine.close_session(self.connection_id)
            self._clear_link()
            await self._move(
                S.DISCONNECTED,
                kind="stopped",
                message="stopped by a user",
                fields={
                    "disconnected_at": self._clock.now(),
                    "attempt": 0,
                    "next_retry_at": None,
                    "error_code": None,
                    "error_message": None,
                },
            )

    async def reconnect(self) -> None:
        async with self._lock:
            self._cancel_retry()
            if self.state.is_active:
                await self._engine.close_session(self.connection_id)
            self._clear_link()
            self._backoff.reset()
            await self._open("reconnect requested")

    async def logout(self) -> None:
        async with self._lock:
            if not self.linked and not self.state.is_active:
                raise Conflict("this connection has no linked device", code="not_linked")
            self._cancel_retry()
            await self._engine.logout(self.connection_id)
            self._clear_link()
            await self._logged_out("logged out through the API")

    async def pairing_code(self, phone: str) -> PairingCode:
        async with self._lock:
            if self.linked and self.state is not S.LOGGED_OUT:
                raise Conflict(
                    "this connection already has a linked device; log it out first",
                    code="already_linked",
                )
            if self.state not in (S.INITIALIZING, S.QR_READY, S.PAIRING_CODE_READY):
                self._cancel_retry()
                await self._open("started for a pairing code")
            if self.state not in (S.INITIALIZING, S.QR_READY, S.PAIRING_CODE_READY):
                raise Conflict(
                    f"the connection could not start linking (state {self.state.value})",
                    code="not_linking",
                )
            code = await self._engine.request_pairing_code(self.connection_id, phone)
            self.pairing = code
            self.qr = None
            await self._move(
                S.PAIRING_CODE_READY,
                kind="pairing_code",
                message=f"pairing code issued for +{phone}",
                events=(
                    (
                        EventType.CONNECTION_PAIRING_CODE,
                        {"code": code.code, "expires_at": code.expires_at.isoformat()},
                    ),
                ),
            )
            return code

    async def delete(self) -> None:
        async with self._lock:
            self.deleted = True
            self._cancel_retry()
            await self._engine.delete_session(self.connection_id)
        self._consumer.cancel()

    async def health_failed(self, reason: str) -> None:
        """The health check found a connection that claims ``ready`` but does not answer."""
        async with self._lock:
            if self.state is not S.READY:
                return
            await self._engine.close_session(self.connection_id)
            await self._retry_later(reason)

    async def wait_settled(self, timeout: float) -> None:
        """Wait until the runner leaves ``initializing`` (or ``timeout`` clock seconds)."""
        if self._settled.is_set():
            return
        waiter = asyncio.ensure_future(self._settled.wait())
        sleeper = asyncio.ensure_future(self._clock.sleep(timeout))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()

    # ------------------------------------------------------------ engine events

    def deliver(self, event: EngineEvent) -> None:
        """Called by the supervisor's sink, on the loop; never blocks."""
        if not self.deleted:
            self._queue.put_nowait(event)

    async def _consume(self) -> None:
        carry: EngineEvent | None = None
        while True:
            event = carry if carry is not None else await self._queue.get()
            carry = None
            try:
                if isinstance(event, _LIFECYCLE):
                    async with self._lock:
                        if not self.deleted:
                            await self._on_lifecycle(event)
                    continue
                # A burst (a busy chat, a history sync) is handed over whole, up to the
                # next lifecycle event: one group commit instead of one per message.
                traffic = [event]
                while len(traffic) < TRAFFIC_BATCH and not self._queue.empty():
                    queued = self._queue.get_nowait()
                    if isinstance(queued, _LIFECYCLE):
                        carry = queued
                        break
                    traffic.append(queued)
                for listener in self._listeners:
                    await listener(self.organization_id, self.connection_id, traffic)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "failed to handle engine event",
                    extra={"connection_id": self.connection_id, "event": type(event).__name__},
                )

    async def _on_lifecycle(self, event: EngineEvent) -> None:
        now = self._clock.now()
        match event:
            case QrIssued():
                if self.state is S.PAIRING_CODE_READY:
                    return
                self.qr = event
                self.qr_expired = False
                await self._move(
                    S.QR_READY,
                    kind="qr",
                    message=f"QR code {event.index} of {event.total} issued",
                    events=(
                        (
                            EventType.CONNECTION_QR,
                            {
                                "code": event.code,
                                "expires_at": event.expires_at.isoformat(),
                                "index": event.index,
                                "total": event.total,
                            },
                        ),
                    ),
                )
            case LinkTimedOut():
                self.qr_expired = event.reason == "qr_timeout"
                self.qr = None
                self.pairing = None
                await self._engine.close_session(self.connection_id)
                what = "QR code" if self.qr_expired else "pairing code"
                await self._move(
                    S.DISCONNECTED,
                    kind="timeout",
                    message=f"the {what} expired without being used",
                    fields={
                        "error_code": event.reason,
                        "error_message": f"the {what} expired; start the connection again",
                        "disconnected_at": now,
                    },
                )
            case Paired():
                self.linked = True
                self.jid = event.jid
                self.qr = None
                self.pairing = None
                await self._move(
                    S.AUTHENTICATED,
                    kind="paired",
                    message=f"linked to +{event.phone}",
                    fields={
                        "linked": True,
                        "jid": event.jid,
                        "lid": event.lid,
                        "phone": event.phone,
                        "push_name": event.push_name,
                        "error_code": None,
                        "error_message": None,
                    },
                )
            case Connected():
                attempts = self._backoff.attempt
                self._backoff.reset()
                self.linked = True
                if attempts:
                    log.info(
                        "connection recovered",
                        extra={"connection_id": self.connection_id, "attempts": attempts},
                    )
                await self._move(
                    S.READY,
                    kind="connected",
                    message="connected to WhatsApp",
                    fields={
                        "linked": True,
                        "jid": event.jid,
                        "phone": event.phone,
                        "push_name": event.push_name or self.push_name,
                        "connected_at": now,
                        "last_seen_at": now,
                        "attempt": 0,
                        "next_retry_at": None,
                        "error_code": None,
                        "error_message": None,
                    },
                )
            case Disconnected():
                if not self.state.is_active or self.state is S.RECONNECTING:
                    return
                await self._engine.close_session(self.connection_id)
                if event.retryable:
                    await self._retry_later(event.reason)
                else:
                    await self._fail_to(S.DISCONNECTED, "disconnected", event.reason)
            case ConnectFailure():
                if not self.state.is_active or self.state is S.RECONNECTING:
                    return
                await self._engine.close_session(self.connection_id)
                if event.permanent:
                    await self._fail_to(S.ERROR, "connect_failure", event.reason)
                else:
                    await self._retry_later(event.reason)
            case LoggedOut():
                self._cancel_retry()
                self._clear_link()
                await self._logged_out(event.reason)
            case StreamReplaced():
                await self._engine.close_session(self.connection_id)
                await self._fail_to(
                    S.DISCONNECTED,
                    "stream_replaced",
                    "another client took over this WhatsApp session",
                )
            case TemporaryBan():
                self._cancel_retry()
                await self._engine.close_session(self.connection_id)
                until = now + timedelta(seconds=event.expires_in)
                await self._fail_to(
                    S.ERROR,
                    "temporary_ban",
                    f"WhatsApp temporarily banned this number (code {event.code}) until "
                    f"{until.isoformat(timespec='minutes')}; start it again after that",
                )
            case ClientOutdated():
                self._cancel_retry()
                await self._engine.close_session(self.connection_id)
                await self._fail_to(
                    S.ERROR,
                    "client_outdated",
                    "WhatsApp refused this client version; update zapgate",
                )
            case KeepAlive():
                kind = "keepalive_restored" if event.ok else "keepalive_timeout"
                await self._recorder.record(self.connection_id, Change(kind=kind))
            case EngineFault():
                await self._recorder.record(
                    self.connection_id,
                    Change(kind="engine_fault", message=f"{event.code}: {event.message}"),
                )

    # ------------------------------------------------------------ transitions

    async def _open(self, reason: str, *, announce: bool = True) -> None:
        spec = SessionSpec(
            session_id=self.connection_id,
            organization_id=self.organization_id,
            resume=self.linked,
            jid=self.jid if self.linked else None,
            push_name=self.push_name,
        )
        self.qr = None
        self.qr_expired = False
        self.pairing = None
        if announce:
            await self._move(S.INITIALIZING, kind="starting", message=reason)
        try:
            await self._engine.open_session(spec)
        except EngineError as exc:
            await self._engine.close_session(self.connection_id)
            if exc.permanent:
                await self._fail_to(S.ERROR, exc.code, exc.message)
            else:
                await self._retry_later(exc.message)

    async def _retry_later(self, reason: str) -> None:
        delay = self._backoff.next_delay()
        attempt = self._backoff.attempt
        now = self._clock.now()
        fields: dict[str, Any] = {
            "attempt": attempt,
            "next_retry_at": now + timedelta(seconds=delay),
            "error_message": reason,
            "error_code": None,
        }
        if self.state is S.READY:
            fields["disconnected_at"] = now
        if attempt == 1:
            log.warning(
                "connection lost; retrying",
                extra={"connection_id": self.connection_id, "reason": reason},
            )
        else:
            log.debug(
                "retry failed",
                extra={"connection_id": self.connection_id, "attempt": attempt, "reason": reason},
            )
        await self._move(
            S.RECONNECTING,
            kind="reconnecting",
            message=f"{reason}; retry {attempt} in {delay:.1f}s",
            fields=fields,
        )
        self._retry = self._owner.spawn(
            self._retry_after(delay), name=f"retry:{self.connection_id}"
        )

    async def _retry_after(self, delay: float) -> None:
        await self._clock.sleep(delay)
        async with self._lock:
            if self.state is not S.RECONNECTING or self.deleted:
                return
            self._retry = None
            await self._open(f"retry {self._backoff.attempt}")

    async def _fail_to(self, target: ConnectionState, code: str, message: str) -> None:
        self._cancel_retry()
        self.qr = None
        self.pairing = None
        await self._move(
            target,
            kind="error" if target is S.ERROR else "disconnected",
            message=message,
            fields={
                "error_code": code,
                "error_message": message,
                "disconnected_at": self._clock.now(),
                "next_retry_at": None,
            },
        )

    async def _logged_out(self, reason: str) -> None:
        self.linked = False
        self.jid = None
        await self._move(
            S.LOGGED_OUT,
            kind="logged_out",
            message=reason,
            fields={
                "linked": False,
                "jid": None,
                "error_code": None,
                "error_message": reason,
                "disconnected_at": self._clock.now(),
                "attempt": 0,
                "next_retry_at": None,
            },
        )

    async def _move(
        self,
        target: ConnectionState,
        *,
        kind: str,
        message: str | None = None,
        fields: dict[str, Any] | None = None,
        events: tuple[tuple[EventType, dict[str, Any]], ...] = (),
    ) -> None:
        if target is not self.state and not can_transition(self.state, target):
            log.warning(
                "ignored illegal transition",
                extra={
                    "connection_id": self.connection_id,
                    "from": self.state.value,
                    "to": target.value,
                },
            )
            return
        row = await self._recorder.record(
            self.connection_id,
            Change(kind=kind, message=message, state=target, fields=fields or {}, events=events),
        )
        if row is None:
            self.deleted = True
            return
        self.state = target
        self.push_name = row.push_name
        if target is S.INITIALIZING:
            self._settled.clear()
        else:
            self._settled.set()

    def _clear_link(self) -> None:
        self.qr = None
        self.pairing = None

    def _cancel_retry(self) -> None:
        if self._retry is not None and self._retry is not asyncio.current_task():
            self._retry.cancel()
        self._retry = None

    async def close(self) -> None:
        """Stop handling events (server shutdown); the database state is left as is."""
        self._cancel_retry()
        self._consumer.cancel()
