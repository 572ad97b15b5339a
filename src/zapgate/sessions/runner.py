"""One runner per connection: carries out what the planner decides for it.

Commands (start, stop, reconnect, logout, pairing code, delete) and lifecycle events
from the engine are handled one at a time under the runner's lock, so two concurrent
starts open one session, and a stop never races a reconnect. Each is turned into a step
by :func:`~zapgate.sessions.planner.plan` and carried out here: engine calls, writes
through the recorder, the retry timer. Messages, receipts and other traffic are passed
to the listeners in order but outside that lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from zapgate.domain.behaviour import Behaviour
from zapgate.domain.errors import Conflict, DomainError, EngineError
from zapgate.domain.states import ConnectionState
from zapgate.engines.base import Engine, PairingCode
from zapgate.engines.events import EngineEvent, QrIssued
from zapgate.sessions.planner import plan
from zapgate.sessions.recorder import ConnectionRecorder
from zapgate.sessions.steps import (
    LIFECYCLE_EVENTS,
    CancelRetry,
    Change,
    CloseSession,
    Delete,
    DeleteSession,
    HealthFailed,
    Input,
    IssuePairingCode,
    Logout,
    LogoutDevice,
    Memory,
    Note,
    OpenFailed,
    OpenSession,
    PairingCodeIssued,
    Reconnect,
    Record,
    Refused,
    Remember,
    RequestPairing,
    RequestPairingCode,
    Resume,
    RetryDue,
    ScheduleRetry,
    Situation,
    Start,
    Step,
    Stop,
    WriteFailed,
)
from zapgate.sessions.traffic import behaviour_of, keep_traffic, to_mark_read
from zapgate.store.tables.connections import ConnectionRow
from zapgate.util.backoff import BackoffConfig
from zapgate.util.clock import Clock
from zapgate.util.secretbox import SecretBox
from zapgate.util.tasks import TaskOwner

log = logging.getLogger(__name__)

S = ConnectionState
TrafficListener = Callable[[str, str, Sequence[EngineEvent]], Awaitable[None]]
"""Called with (organization_id, connection_id, events) for messages and other traffic,
in order; the events are handled (committed) when the call returns."""

TRAFFIC_BATCH = 256
"""Traffic events already queued behind one travel with it to the listeners."""
DATABASE_ERRORS = (SQLAlchemyError, OSError)
"""What a write raises when the database is away (dropped connection, restart)."""


class RunsElsewhere(DomainError):
    """In a cluster: another node runs the connection. The commands that are carried to
    their owner catch this (``services/commands.py``); the others answer it."""

    code = "connection_elsewhere"
    status = 503


CARRIED = (Start, Stop, Reconnect, Logout, RequestPairing, IssuePairingCode, Delete)
"""The commands a person asks (carried to the owner when another node runs it); a
delete refused so is not half done (the row gone, the device still linked)."""


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
        box: SecretBox | None = None,
    ) -> None:
        self.connection_id = row.id
        self.organization_id = row.organization_id
        self.state = S(row.state)
        self.push_name = row.push_name
        self.memory = Memory(linked=row.linked, jid=row.jid, attempt=row.attempt)
        self.deleted = False
        self.epoch: int | None = row.lease_epoch if row.node_id is not None else None
        """In a cluster: the lease epoch every write of this runner carries."""
        self.behaviour = behaviour_of(row, box)
        self.row_written_at = row.updated_at
        """When the row last read or written by this runner was written: in a cluster the
        lease round reads the settings again when the row's time moves
        (``Supervisor.catch_up``). The runner's own writes move it too, so its state
        changes are not taken for settings saved elsewhere."""
        self.closed = False
        """Closed (shutdown, let go): settings arriving late are not applied, and work
        that was waiting for the lock opens no session."""
        self._box = box
        self._engine = engine
        self._recorder = recorder
        self._clock = clock
        self._delay = backoff.delay
        self._owner = owner
        self._listeners = listeners
        self._lock = asyncio.Lock()
        self._queue: asyncio.Queue[EngineEvent] = asyncio.Queue()
        self._retry: asyncio.Task[Any] | None = None
        self._settled = asyncio.Event()
        self._settled.set()
        self._consumer = owner.spawn(self._consume(), name=f"events:{row.id}")

    @property
    def linked(self) -> bool:
        return self.memory.linked

    @property
    def qr(self) -> QrIssued | None:
        return self.memory.qr

    @property
    def qr_expired(self) -> bool:
        return self.memory.qr_expired

    @property
    def pairing(self) -> PairingCode | None:
        return self.memory.pairing

    # ------------------------------------------------------------ commands

    async def start(self) -> None:
        """Begin linking, or resume a linked device. A running connection is left as is."""
        async with self._lock:
            await self._handle(Start())

    async def resume(self) -> None:
        """Open the session after a server restart (the supervisor staggers these).

        The connection stays ``reconnecting`` until the engine reports the outcome.
        """
        async with self._lock:
            await self._planned(Resume())

    async def stop(self) -> None:
        async with self._lock:
            await self._handle(Stop())

    async def reconnect(self) -> None:
        async with self._lock:
            await self._handle(Reconnect())

    async def logout(self) -> None:
        async with self._lock:
            await self._handle(Logout())

    async def pairing_code(self, phone: str) -> PairingCode:
        async with self._lock:
            await self._handle(RequestPairing(phone))
            code = await self._handle(IssuePairingCode(phone))
        # The planner answers IssuePairingCode with a request for the code or a rejection.
        assert code is not None
        return code

    async def delete(self) -> None:
        async with self._lock:
            self.deleted = True
            await self._handle(Delete())
        self._consumer.cancel()

    async def configure(self, behaviour: Behaviour) -> bool:
        """The settings saved for the connection: the engine applies what it can now,
        and an active connection whose proxy changed dials again through the new one.
        False when it runs with them already: in a cluster a change carried here and the
        lease round's catch-up may both bring one, and it is applied once."""
        async with self._lock:
            before = self.behaviour
            if behaviour == before or self.closed or self.deleted:
                return False
            self.behaviour = behaviour
            await self._engine.configure_session(self.connection_id, behaviour)
            dials = (behaviour.proxy_url, behaviour.proxy_problem)
            if self.closed:
                return True  # let go meanwhile: its new owner dials
            if dials != (before.proxy_url, before.proxy_problem) and self.state.is_active:
                await self._handle(Reconnect())
            return True

    async def health_failed(self, reason: str) -> None:
        """The health check found a connection that claims ``ready`` but does not answer."""
        async with self._lock:
            await self._handle(HealthFailed(reason))

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
                if isinstance(event, LIFECYCLE_EVENTS):
                    async with self._lock:
                        await self._planned(event)
                    continue
                # A burst (a busy chat, a history sync) is handed over whole, up to the
                # next lifecycle event: one group commit instead of one per message.
                traffic = [event]
                while len(traffic) < TRAFFIC_BATCH and not self._queue.empty():
                    queued = self._queue.get_nowait()
                    if isinstance(queued, LIFECYCLE_EVENTS):
                        carry = queued
                        break
                    traffic.append(queued)
                kept = keep_traffic(traffic, self.behaviour)
                for listener in self._listeners:
                    await listener(self.organization_id, self.connection_id, kept)
                if self.behaviour.auto_read:
                    await self._read(kept)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "failed to handle engine event",
                    extra={"connection_id": self.connection_id, "event": type(event).__name__},
                )

    async def _read(self, traffic: Sequence[EngineEvent]) -> None:
        """Acknowledge incoming messages as read (``auto_read``), once they are stored."""
        for (chat_jid, sender), ids in to_mark_read(traffic).items():
            try:
                await self._engine.mark_read(self.connection_id, chat_jid, ids, sender)
            except EngineError as exc:
                log.info(
                    "auto read failed",
                    extra={"connection_id": self.connection_id, "code": exc.code},
                )

    # ------------------------------------------------------------ carrying out steps

    async def _handle(self, event: Input) -> PairingCode | None:
        if self.closed:
            # Let go (handed over, lease lost) or shut down while this waited for the
            # lock: it acts no more. A person's command goes to the connection's owner.
            if isinstance(event, CARRIED):
                raise RunsElsewhere(
                    "the connection moved to another node", code="connection_elsewhere"
                )
            return None
        situation = Situation(
            connection_id=self.connection_id,
            organization_id=self.organization_id,
            state=self.state,
            push_name=self.push_name,
            memory=self.memory,
            deleted=self.deleted,
            behaviour=self.behaviour,
        )
        step = plan(situation, event, now=self._clock.now(), delay=self._delay)
        return await self._carry_out(step)

    async def _planned(self, event: Input) -> None:
        """Handle an engine report, a resume or a retry, which no caller waits on: when
        a database error stops the step (its state write failed), the session is closed
        and retried after the backoff, so the connection is never left without a plan."""
        try:
            await self._handle(event)
        except DATABASE_ERRORS as exc:
            log.warning(
                "could not record a connection's change; retrying later",
                extra={"connection_id": self.connection_id, "error": type(exc).__name__},
            )
            reason = f"the database did not record the change ({type(exc).__name__})"
            try:
                await self._handle(WriteFailed(reason))
            except DATABASE_ERRORS:
                # The retry is scheduled before this status write: it comes all the same,
                # and finds the connection reconnecting (here, if not in the table yet),
                # which is what a retry acts on.
                log.debug("the reconnecting status was not written either", exc_info=True)
                if not self.deleted and self.state.is_active:
                    self.state = S.RECONNECTING

    async def _carry_out(self, step: Step) -> PairingCode | None:
        """Do what the step says, in order; returns the pairing code the engine issued.

        An engine call whose answer needs deciding (an open that failed, an issued
        pairing code) is the last action of its step: its answer is planned as the next
        input and carried out before this returns.
        """
        if step.rejected is not None:
            raise Conflict(step.rejected.message, code=step.rejected.code)
        cid = self.connection_id
        for action in step.actions:
            match action:
                case CancelRetry():
                    self._cancel_retry()
                case CloseSession():
                    await self._engine.close_session(cid)
                case LogoutDevice():
                    await self._engine.logout(cid, jid=self.memory.jid)
                case DeleteSession():
                    await self._engine.delete_session(cid, jid=self.memory.jid)
                case Remember(memory=memory):
                    self.memory = memory
                case Note(level=level, message=message, data=data):
                    log.log(level, message, extra={"connection_id": cid, **data})
                case Refused(state=state, target=target):
                    log.warning(
                        "ignored illegal transition",
                        extra={"connection_id": cid, "from": state.value, "to": target.value},
                    )
                case Record(change=change):
                    await self._record(change)
                case ScheduleRetry(delay=delay, due=due):
                    if due is not None:  # the status promised this time: keep to it
                        delay = max(0.0, (due - self._clock.now()).total_seconds())
                    self._retry = self._owner.spawn(self._retry_after(delay), name=f"retry:{cid}")
                case OpenSession(spec=spec, restoring=restoring):
                    if self.closed:
                        # Closed while this step ran: the session is another node's
                        # now, or nobody's; opening one here would make two.
                        return None
                    if restoring:
                        self._settled.clear()
                    problem = spec.behaviour.proxy_problem
                    if problem is not None:
                        return await self._handle(OpenFailed("proxy_unreadable", problem, True))
                    try:
                        await self._engine.open_session(spec)
                    except EngineError as exc:
                        return await self._handle(OpenFailed(exc.code, exc.message, exc.permanent))
                    if self.closed:
                        # Let go during the dial: its close may have come first.
                        await self._engine.close_session(cid)
                        return None
                case RequestPairingCode(phone=phone):
                    code = await self._engine.request_pairing_code(cid, phone)
                    await self._handle(PairingCodeIssued(phone, code))
                    return code
        return None

    async def _record(self, change: Change) -> None:
        row = await self._recorder.record(self.connection_id, change, epoch=self.epoch)
        if change.state is None:
            return
        if row is None:
            self.deleted = True
            return
        if behaviour_of(row, self._box) == self.behaviour:
            # Its own write; a row carrying other settings (saved meanwhile through
            # another node) is left for the lease round to notice.
            self.row_written_at = row.updated_at
        self.state = change.state
        self.push_name = row.push_name
        if change.state is S.INITIALIZING:
            self._settled.clear()
        else:
            self._settled.set()

    async def _retry_after(self, delay: float) -> None:
        await self._clock.sleep(delay)
        async with self._lock:
            if self._retry is asyncio.current_task():
                self._retry = None
            await self._planned(RetryDue())

    def _cancel_retry(self) -> None:
        if self._retry is not None and self._retry is not asyncio.current_task():
            self._retry.cancel()
        self._retry = None

    async def close(self) -> None:
        """Stop handling events (server shutdown); the database state is left as is."""
        self.closed = True
        self._settled.set()  # whoever waits for it to settle (a restore) waits no more
        self._cancel_retry()
        self._consumer.cancel()
