"""The neonize engine: WhatsApp sessions in supervised worker processes.

:class:`NeonizeEngine` implements :class:`zapgate.engines.base.Engine` in the server.
It places each session on a worker (``sessions_per_worker`` per process), forwards calls
as protocol requests, and supervises the workers: a worker that dies is reported as
``Disconnected(retryable=True, reason="engine worker exited ...")`` for each of its
sessions only, restarted after a backoff (growing while it keeps crashing, reset once
it has stayed up), and its sessions are re-opened from their stored credentials.

Starting a worker costs seconds (Python, then ``import neonize``), so by default one
**warm spare** is kept: a started, idle worker that takes over the sessions of a worker
that dies at once (the first crash after a stable period; later ones wait their backoff
first). A new spare is started in the background, after a delay that grows while spares
keep dying or being used up, so spares never spawn hot.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from zapgate.domain.behaviour import Behaviour
from zapgate.domain.errors import EngineError, SessionNotRunning
from zapgate.domain.messages import ChatPresence
from zapgate.engines import base
from zapgate.engines.events import (
    ClientOutdated,
    Connected,
    ConnectFailure,
    Disconnected,
    EngineEvent,
    EngineFault,
    EventSink,
    GroupInfo,
    LinkTimedOut,
    LoggedOut,
    MediaRef,
    Paired,
    StreamReplaced,
    TemporaryBan,
)
from zapgate.engines.neonize import protocol
from zapgate.engines.neonize.group_ops import NeonizeGroups
from zapgate.engines.neonize.pool import (
    LibraryUnavailable,
    WorkerExited,
    WorkerOptions,
    WorkerProcess,
)
from zapgate.engines.neonize.worker import remove_sqlite_store, sqlite_store_path
from zapgate.util.backoff import Backoff, BackoffConfig
from zapgate.util.clock import Clock
from zapgate.util.tasks import TaskOwner

log = logging.getLogger(__name__)

# Events after which the worker has already closed the session: it waits for a new open.
_ENDS_SESSION = (Disconnected, LoggedOut, StreamReplaced, TemporaryBan,
                 ClientOutdated, ConnectFailure, LinkTimedOut)
CRASH_LOOP_ATTEMPTS = 3
"""Restarts in a row after which a worker counts as crash-looping (logged and reported)."""


@dataclass
class _Slot:
    spec: base.SessionSpec
    worker: _Managed
    recovering: bool = False
    """Re-opened by the engine after a worker crash, not yet claimed by an open_session."""


class _Managed:
    """A worker slot: the current process plus its restart state."""

    def __init__(self, backoff: Backoff) -> None:
        self.process: WorkerProcess | None = None
        self.backoff = backoff
        self.sessions: dict[str, _Slot] = {}
        self.started_at = 0.0
        self.restarting = False
        self.retired = False
        self.crash_loop_reported = False
        self.first_start = asyncio.Event()
        """Set once the worker's first start has ended, either way."""
        self.start_error: EngineError | None = None

    @property
    def ready(self) -> bool:
        return self.process is not None and self.process.alive and not self.restarting


class NeonizeEngine(NeonizeGroups):
    name = "neonize"
    chooses_message_ids = False
    """A send goes out with whatsmeow's own id, not ``OutgoingMessage.wa_message_id``:
    neonize 0.5.2's ``SendMessage`` export takes no id (see README.md)."""

    def __init__(
        self,
        *,
        data_dir: Path,
        clock: Clock,
        sessions_per_worker: int = 1,
        database_url: str | None = None,
        python: str = sys.executable,
        proxy: str | None = None,
        backoff: BackoffConfig | None = None,
        stable_after: float = 30.0,
        request_timeout: float = 60.0,
        stop_timeout: float = 3.0,
        start_timeout: float = 30.0,
        stagger: float = 0.5,
        max_media_bytes: int = 64 * 1024 * 1024,
        log_level: str = "INFO",
        warm_spare: bool = True,
    ) -> None:
        if sessions_per_worker < 1:
            raise ValueError("sessions_per_worker must be at least 1")
        self.data_dir = Path(data_dir)
        self.clock = clock
        self.sessions_per_worker = sessions_per_worker
        self.database_url = database_url
        self.options = WorkerOptions(
            python=python, data_dir=self.data_dir, database_url=database_url, proxy=proxy,
            stagger=stagger, max_media_bytes=max_media_bytes, log_level=log_level,
            hello_timeout=start_timeout)
        # First restart quickly (a one-off crash should cost ~1 s of service), then back off.
        self.backoff_config = backoff or BackoffConfig(min_delay=0.2, max_delay=60.0, jitter=0.2)
        self.stable_after = stable_after
        self.request_timeout = request_timeout
        self.stop_timeout = stop_timeout
        self.start_timeout = start_timeout
        self._sink: EventSink | None = None
        self._slots: dict[str, _Slot] = {}
        self._workers: list[_Managed] = []
        self._tasks = TaskOwner("neonize-engine")
        self._retiring = TaskOwner("neonize-engine-retire")
        self._closing = False
        self.warm_spare = warm_spare
        self._spare: WorkerProcess | None = None
        self._spare_since = 0.0
        self._spare_gone = asyncio.Event()
        self._spare_backoff = Backoff(self.backoff_config)
        self._spare_loop: asyncio.Task[None] | None = None
        self._spare_crash_loop_reported = False
        self._unavailable: str | None = None
        """Set while workers cannot even load the library (a broken install)."""

    # ------------------------------------------------------------ lifecycle

    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        self.data_dir.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        self._closing = True
        await self._tasks.cancel_all()
        workers, self._workers = self._workers, []
        spare, self._spare = self._spare, None
        stopping = [self._retire(w) for w in workers]
        if spare is not None:
            stopping.append(spare.stop(self.stop_timeout))
        await asyncio.gather(*stopping, return_exceptions=True)
        await self._retiring.close(timeout=self.stop_timeout * 2)
        self._slots.clear()

    @property
    def workers(self) -> list[WorkerProcess]:
        """Live worker processes (for health checks, metrics and tests)."""
        return [w.process for w in self._workers if w.process is not None and w.process.alive]

    def problem(self) -> str | None:
        """Every worker keeps crashing (past ``CRASH_LOOP_ATTEMPTS`` restarts in a row):
        the engine cannot serve any session. One worker's crash loop is its sessions'
        fault (``engine_worker_crash_loop``), not the server's, and a restart in
        progress is routine."""
        if self._unavailable is not None:
            return self._unavailable
        serving = [w for w in self._workers if not w.retired and w.sessions]
        looping = [w for w in serving if w.crash_loop_reported and not w.ready]
        if looping and len(looping) == len(serving):
            held = sum(len(w.sessions) for w in looping)
            return (
                f"every engine worker ({len(looping)}) crash-looping, holding {held} session(s)"
            )
        if self.warm_spare and self._spare_crash_loop_reported and self.spare is None:
            return "warm spare engine workers keep failing to start"
        return None

    def worker_of(self, session_id: str) -> WorkerProcess | None:
        slot = self._slots.get(session_id)
        return slot.worker.process if slot else None

    @property
    def spare(self) -> WorkerProcess | None:
        """The warm spare worker when one is started and idle."""
        spare = self._spare
        return spare if spare is not None and spare.alive else None

    # ------------------------------------------------------------ sessions

    async def open_session(self, spec: base.SessionSpec) -> None:
        slot = self._slots.get(spec.session_id)
        if slot is not None:
            if slot.recovering:
                # The engine is already resuming it after a worker crash; adopt that.
                slot.recovering = False
                return
            raise EngineError("already_open", f"session {spec.session_id} is running")
        if self.warm_spare and self._spare_loop is None and not self._closing:
            self._spare_loop = self._tasks.spawn(self._keep_spare(), name="warm-spare")
        managed, new = self._worker_with_room()
        # Placed before the worker has started, so opens arriving meanwhile (a restart
        # restores many at once) count this one and wait for the same start.
        slot = _Slot(spec=spec, worker=managed)
        self._slots[spec.session_id] = slot
        managed.sessions[spec.session_id] = slot
        try:
            if new:
                await self._first_start(managed)
            else:
                await managed.first_start.wait()
                if managed.start_error is not None:
                    error = managed.start_error
                    raise EngineError(error.code, error.message, permanent=error.permanent)
        except EngineError:
            self._drop(spec.session_id)
            raise
        if not managed.ready:
            return  # the restarting worker opens every session it holds
        try:
            await self._open_on(managed, slot)
        except EngineError:
            self._drop(spec.session_id)
            raise

    async def request_pairing_code(self, session_id: str, phone: str) -> base.PairingCode:
        result = await self._call(session_id, "pairing_code", {"phone": phone})
        code: base.PairingCode = protocol.decode_dataclass(base.PairingCode, result)
        return code

    async def configure_session(self, session_id: str, behaviour: Behaviour) -> None:
        slot = self._slots.get(session_id)
        if slot is None:
            return
        # A worker crash reopens the session from this spec: keep it current.
        slot.spec = replace(slot.spec, behaviour=behaviour)
        if slot.worker.ready and slot.worker.process is not None:
            await self._call(session_id, "configure", {"behaviour": behaviour})

    async def close_session(self, session_id: str) -> None:
        await self._stop_session(session_id, "close")

    async def logout(self, session_id: str) -> None:
        if not await self._stop_session(session_id, "logout"):
            await self._forget_store(session_id)

    async def delete_session(self, session_id: str) -> None:
        await self._stop_session(session_id, "delete")
        await self._forget_store(session_id)

    async def send(self, session_id: str, message: base.OutgoingMessage) -> base.SendResult:
        result = await self._call(session_id, "send", {"message": message})
        sent: base.SendResult = protocol.decode_dataclass(base.SendResult, result)
        return sent

    async def mark_read(self, session_id: str, chat_jid: str, message_ids: list[str],
                        sender_jid: str | None) -> None:
        await self._call(session_id, "mark_read", {"chat_jid": chat_jid,
                                                   "message_ids": message_ids,
                                                   "sender_jid": sender_jid})

    async def send_presence(self, session_id: str, chat_jid: str,
                            presence: ChatPresence) -> None:
        await self._call(session_id, "presence", {"chat_jid": chat_jid, "presence": presence})

    async def check_numbers(self, session_id: str, phones: list[str]) -> list[base.NumberCheck]:
        result = await self._call(session_id, "check_numbers", {"phones": phones})
        checks: list[base.NumberCheck] = protocol.from_json(list[base.NumberCheck], result)
        return checks

    async def get_groups(self, session_id: str) -> list[GroupInfo]:
        result = await self._call(session_id, "groups", {})
        groups: list[GroupInfo] = protocol.from_json(list[GroupInfo], result)
        return groups

    async def download_media(self, session_id: str, media: MediaRef) -> bytes:
        result = await self._call(session_id, "download", {"media": media})
        data: bytes = protocol.from_json(bytes, result)
        return data

    async def ping(self, session_id: str) -> bool:
        slot = self._slots.get(session_id)
        if slot is None or not slot.worker.ready or slot.worker.process is None:
            return False
        try:
            alive = await slot.worker.process.request("ping", {"session_id": session_id},
                                                      timeout=self.stop_timeout)
        except (EngineError, TimeoutError):
            return False
        return bool(alive)

    # ------------------------------------------------------------ internals

    def _emit(self, event: EngineEvent) -> None:
        if self._sink is not None:
            self._sink(event)

    def _on_worker_event(self, managed: _Managed, event: EngineEvent) -> None:
        slot = self._slots.get(event.session_id)
        if slot is None or slot.worker is not managed:
            return  # late event of a session closed or moved meanwhile
        if isinstance(event, Paired):
            slot.spec = replace(slot.spec, resume=True, jid=event.jid)
        elif isinstance(event, LoggedOut):
            slot.spec = replace(slot.spec, resume=False, jid=None)
        if isinstance(event, Connected):
            managed.crash_loop_reported = False
        self._emit(event)
        if isinstance(event, _ENDS_SESSION):
            self._drop(event.session_id)
            self._retire_if_empty(managed)

    async def _call(self, session_id: str, op: str, args: dict[str, Any]) -> Any:
        slot = self._slots.get(session_id)
        if slot is None or not slot.worker.ready or slot.worker.process is None:
            raise SessionNotRunning(session_id)
        try:
            return await slot.worker.process.request(op, {"session_id": session_id, **args},
                                                     timeout=self.request_timeout)
        except TimeoutError as exc:
            raise EngineError("timeout", f"{op} took longer than "
                                   f"{self.request_timeout:.0f} s") from exc

    async def _open_on(self, managed: _Managed, slot: _Slot) -> None:
        assert managed.process is not None
        try:
            await managed.process.request("open", {"spec": slot.spec},
                                          timeout=self.start_timeout)
        except TimeoutError as exc:
            raise EngineError("timeout", "the engine worker did not start the session")\
                from exc

    async def _stop_session(self, session_id: str, op: str) -> bool:
        """Stop a session on its worker; True when a worker handled ``op``.

        A worker whose library hangs in ``stop()`` (a dial to an unresponsive network
        holds it up to 60 s) is killed after ``stop_timeout``; its other sessions are
        resumed like after any crash.
        """
        slot = self._slots.get(session_id)
        if slot is None:
            return False
        managed = slot.worker
        self._drop(session_id)
        process = managed.process
        if process is None or not managed.ready:
            self._retire_if_empty(managed)
            return False
        try:
            await process.request(op, {"session_id": session_id}, timeout=self.stop_timeout)
        except (TimeoutError, EngineError) as exc:
            log.warning("engine worker %s could not %s session %s in time (%s); killing it",
                        process.id, op, session_id, exc)
            process.exit_detail = f"killed: {op} of session {session_id} hung"
            process.kill()
            await process.exited.wait()
            self._retire_if_empty(managed)
            return False
        self._retire_if_empty(managed)
        return True

    async def _forget_store(self, session_id: str) -> None:
        if self.database_url is None:
            remove_sqlite_store(sqlite_store_path(self.data_dir, session_id))

    def _drop(self, session_id: str) -> None:
        slot = self._slots.pop(session_id, None)
        if slot is not None:
            slot.worker.sessions.pop(session_id, None)

    def _worker_with_room(self) -> tuple[_Managed, bool]:
        """A worker with room for one more session, and whether it is a new one the
        caller must start (:meth:`_first_start`)."""
        for managed in self._workers:
            if not managed.retired and len(managed.sessions) < self.sessions_per_worker:
                return managed, False
        managed = _Managed(Backoff(self.backoff_config))
        self._workers.append(managed)
        return managed, True

    async def _first_start(self, managed: _Managed) -> None:
        try:
            await self._spawn(managed)
        except EngineError as exc:
            managed.start_error = exc
            managed.retired = True
            if managed in self._workers:
                self._workers.remove(managed)
            raise
        finally:
            managed.first_start.set()
        process = managed.process
        if process is not None and not process.alive:
            # It died right after its hello, while the exit handler still ignored it.
            self._on_worker_exit(managed, process)

    async def _spawn(self, managed: _Managed) -> None:
        process = WorkerProcess(
            self.options,
            on_event=lambda event: self._on_worker_event(managed, event),
            on_exit=lambda proc: self._on_worker_exit(managed, proc))
        managed.process = process
        managed.started_at = self.clock.monotonic()
        try:
            await process.spawn()
        except LibraryUnavailable as exc:
            self._unavailable = exc.message
            raise
        self._unavailable = None

    def _retire_if_empty(self, managed: _Managed) -> None:
        if managed.sessions or managed.retired or self._closing:
            return
        managed.retired = True
        if managed in self._workers:
            self._workers.remove(managed)
        self._retiring.spawn(self._retire(managed), name="retire-worker")

    async def _retire(self, managed: _Managed) -> None:
        managed.retired = True
        if managed.process is not None:
            await managed.process.stop(self.stop_timeout)

    def _on_worker_exit(self, managed: _Managed, process: WorkerProcess) -> None:
        if process is not managed.process or process.expected_exit or self._closing:
            return
        if managed.restarting:
            return  # a restart attempt died before its hello; the restart loop retries
        if not managed.first_start.is_set():
            return  # never started: the opens waiting for it get the error instead
        log.warning("engine worker %s (pid %s) exited: %s", process.id, process.pid,
                    process.exit_detail)
        for session_id, slot in list(managed.sessions.items()):
            if slot.recovering:
                continue  # reported at the previous crash already
            slot.recovering = True
            self._emit(Disconnected(
                session_id, reason=f"engine worker exited ({process.exit_detail})",
                retryable=True))
        if not managed.sessions:
            managed.retired = True
            if managed in self._workers:
                self._workers.remove(managed)
            return
        if self.clock.monotonic() - managed.started_at >= self.stable_after:
            managed.backoff.reset()
        managed.restarting = True
        self._tasks.spawn(self._restart(managed), name="restart-worker")

    async def _restart(self, managed: _Managed) -> None:
        while managed.sessions and not self._closing:
            delay = managed.backoff.next_delay()
            attempt = managed.backoff.attempt
            if attempt >= CRASH_LOOP_ATTEMPTS and not managed.crash_loop_reported:
                managed.crash_loop_reported = True
                log.error("engine worker keeps crashing (attempt %s); next restart in %.1f s",
                          attempt, delay)
                for session_id in managed.sessions:
                    self._emit(EngineFault(
                        session_id, code="engine_worker_crash_loop",
                        message=f"engine worker crashed {attempt} times in a row; "
                                f"restarting with backoff ({delay:.1f} s)"))
            # The first crash after a stable period moves to the spare at once; a crash
            # loop waits its backoff either way (then still skips the start if it can).
            spare = self._take_spare() if attempt == 1 else None
            if spare is None:
                await self.clock.sleep(delay)
                spare = self._take_spare()
            if spare is not None:
                self._adopt(managed, spare)
            else:
                try:
                    await self._spawn(managed)
                except WorkerExited as exc:
                    log.warning("engine worker restart failed: %s", exc)
                    continue
            managed.restarting = False
            for slot in list(managed.sessions.values()):
                await self._reopen(managed, slot)
            return
        managed.restarting = False

    async def _reopen(self, managed: _Managed, slot: _Slot) -> None:
        try:
            await self._open_on(managed, slot)
        except EngineError as exc:
            if isinstance(exc, WorkerExited):
                return  # the next exit handler takes over
            self._drop(slot.spec.session_id)
            self._emit(Disconnected(slot.spec.session_id, retryable=True,
                                         reason=f"could not resume after a worker restart: "
                                                f"{exc.message}"))
            self._retire_if_empty(managed)

    # ------------------------------------------------------------ warm spare

    def _take_spare(self) -> WorkerProcess | None:
        spare = self.spare
        if spare is None:
            return None
        self._spare = None
        self._spare_lost()
        return spare

    def _adopt(self, managed: _Managed, process: WorkerProcess) -> None:
        process.bind(on_event=lambda event: self._on_worker_event(managed, event),
                     on_exit=lambda proc: self._on_worker_exit(managed, proc))
        managed.process = process
        managed.started_at = self.clock.monotonic()
        log.info("engine worker %s (pid %s, the warm spare) took over %s session(s)",
                 process.id, process.pid, len(managed.sessions))

    def _spare_lost(self) -> None:
        """The spare was used up or died: the loop starts the next one after its backoff."""
        if self.clock.monotonic() - self._spare_since >= self.stable_after:
            self._spare_backoff.reset()
            self._spare_crash_loop_reported = False
        self._spare_gone.set()

    def _on_spare_exit(self, process: WorkerProcess) -> None:
        if process is not self._spare or process.expected_exit or self._closing:
            return
        log.warning("warm spare engine worker %s (pid %s) exited: %s", process.id, process.pid,
                    process.exit_detail)
        self._spare = None
        self._spare_lost()

    def _on_spare_event(self, event: EngineEvent) -> None:
        log.warning("ignoring %s from the idle warm spare", type(event).__name__)

    async def _keep_spare(self) -> None:
        """Keep one started, idle worker; replacements wait a growing backoff."""
        delay = 0.0
        while not self._closing:
            if delay:
                attempt = self._spare_backoff.attempt
                if attempt >= CRASH_LOOP_ATTEMPTS and not self._spare_crash_loop_reported:
                    self._spare_crash_loop_reported = True
                    log.error("warm spare engine workers keep dying or being used up "
                              "(attempt %s); next one in %.1f s", attempt, delay)
                await self.clock.sleep(delay)
            process = WorkerProcess(self.options, on_event=self._on_spare_event,
                                    on_exit=self._on_spare_exit)
            self._spare_since = self.clock.monotonic()
            try:
                await process.spawn()
            except WorkerExited as exc:
                log.warning("warm spare engine worker did not start: %s", exc)
                self._spare_lost()
            except asyncio.CancelledError:
                process.expected_exit = True
                process.kill()
                raise
            else:
                self._spare_since = self.clock.monotonic()
                self._spare = process
            await self._spare_gone.wait()
            self._spare_gone.clear()
            delay = self._spare_backoff.next_delay()
