"""The neonize engine: WhatsApp sessions in supervised worker processes.

:class:`NeonizeEngine` implements :class:`zapgate.engines.base.Engine` in the server.
It places each session on a worker (``sessions_per_worker`` per process, ``placement.py``),
forwards calls as protocol requests, and supervises the workers: a worker that dies is
reported as ``Disconnected(retryable=True, reason="engine worker exited ...")`` for each
of its sessions only, restarted after a backoff (growing while it keeps crashing, reset
once it has stayed up), and its sessions are re-opened from their stored credentials
(``recovery.py``).

Starting a worker costs seconds (Python, then ``import neonize``), so by default one
**warm spare** is kept (``spare.py``): a started, idle worker that takes over the
sessions of a worker that dies at once (the first crash after a stable period; later
ones wait their backoff first). A new spare is started in the background, after a delay
that grows while spares keep dying or being used up, so spares never spawn hot.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import replace
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
from zapgate.engines.neonize.placement import Placements, SupervisedWorker
from zapgate.engines.neonize.pool import WorkerOptions, WorkerProcess
from zapgate.engines.neonize.profile_ops import NeonizeProfiles
from zapgate.engines.neonize.recovery import WorkerRecovery
from zapgate.engines.neonize.shared_store import forget_device
from zapgate.engines.neonize.spare import WarmSpare
from zapgate.engines.neonize.worker import remove_sqlite_store, sqlite_store_path
from zapgate.util.backoff import BackoffConfig
from zapgate.util.clock import Clock
from zapgate.util.tasks import TaskOwner

log = logging.getLogger(__name__)

# Events after which the worker has already closed the session: it waits for a new open.
_ENDS_SESSION = (
    Disconnected,
    LoggedOut,
    StreamReplaced,
    TemporaryBan,
    ClientOutdated,
    ConnectFailure,
    LinkTimedOut,
)


class NeonizeEngine(NeonizeGroups, NeonizeProfiles):
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
        self.database_url = database_url
        self.options = WorkerOptions(
            python=python,
            data_dir=self.data_dir,
            database_url=database_url,
            proxy=proxy,
            stagger=stagger,
            max_media_bytes=max_media_bytes,
            log_level=log_level,
            hello_timeout=start_timeout,
        )
        """Read at each worker start, so a change applies to the next one."""
        # First restart quickly (a one-off crash should cost ~1 s of service), then back off.
        backoff = backoff or BackoffConfig(min_delay=0.2, max_delay=60.0, jitter=0.2)
        self.request_timeout = request_timeout
        self.stop_timeout = stop_timeout
        self.start_timeout = start_timeout
        self.warm_spare = warm_spare
        self._sink: EventSink | None = None
        self._tasks = TaskOwner("neonize-engine")
        self._closing = asyncio.Event()
        self._placements = Placements(
            sessions_per_worker=sessions_per_worker,
            backoff=backoff,
            stop_timeout=stop_timeout,
            closing=self._closing,
        )
        self._spare = WarmSpare(
            options=lambda: self.options,
            clock=clock,
            backoff=backoff,
            stable_after=stable_after,
            tasks=self._tasks,
            closing=self._closing,
        )
        self._recovery = WorkerRecovery(
            placements=self._placements,
            spare=self._spare,
            options=lambda: self.options,
            clock=clock,
            stable_after=stable_after,
            start_timeout=start_timeout,
            tasks=self._tasks,
            closing=self._closing,
            route=self._on_worker_event,
            emit=self._emit,
        )

    # ------------------------------------------------------------ lifecycle

    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        self.data_dir.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        self._closing.set()
        await self._tasks.cancel_all()
        await asyncio.gather(
            self._placements.close(), self._spare.close(self.stop_timeout), return_exceptions=True
        )

    @property
    def workers(self) -> list[WorkerProcess]:
        """Live worker processes (for health checks, metrics and tests)."""
        return [
            w.process for w in self._placements.workers if w.process is not None and w.process.alive
        ]

    def problem(self) -> str | None:
        """Every worker keeps crashing (past ``CRASH_LOOP_ATTEMPTS`` restarts in a row):
        the engine cannot serve any session. One worker's crash loop is its sessions'
        fault (``engine_worker_crash_loop``), not the server's, and a restart in
        progress is routine."""
        if self._recovery.unavailable is not None:
            return self._recovery.unavailable
        serving = [w for w in self._placements.workers if not w.retired and w.sessions]
        looping = [w for w in serving if w.crash_loop_reported and not w.ready]
        if looping and len(looping) == len(serving):
            held = sum(len(w.sessions) for w in looping)
            return f"every engine worker ({len(looping)}) crash-looping, holding {held} session(s)"
        if self.warm_spare and self._spare.failing:
            return "warm spare engine workers keep failing to start"
        return None

    def worker_of(self, session_id: str) -> WorkerProcess | None:
        placement = self._placements.get(session_id)
        return placement.worker.process if placement else None

    @property
    def spare(self) -> WorkerProcess | None:
        """The warm spare worker when one is started and idle."""
        return self._spare.process

    # ------------------------------------------------------------ sessions

    async def open_session(self, spec: base.SessionSpec) -> None:
        placement = self._placements.get(spec.session_id)
        if placement is not None:
            if placement.recovering:
                # The engine is already resuming it after a worker crash; adopt that.
                placement.recovering = False
                return
            raise EngineError("already_open", f"session {spec.session_id} is running")
        if self.warm_spare:
            self._spare.keep()
        placement, new = self._placements.place(spec)
        worker = placement.worker
        try:
            if new:
                await self._first_start(worker)
            else:
                await worker.first_start.wait()
                if worker.start_error is not None:
                    error = worker.start_error
                    raise EngineError(error.code, error.message, permanent=error.permanent)
        except EngineError:
            self._placements.drop(spec.session_id)
            raise
        if not worker.ready:
            return  # the restarting worker opens every session it holds
        try:
            await worker.open(placement, timeout=self.start_timeout)
        except EngineError:
            self._placements.drop(spec.session_id)
            raise

    async def request_pairing_code(self, session_id: str, phone: str) -> base.PairingCode:
        result = await self._call(session_id, "pairing_code", {"phone": phone})
        code: base.PairingCode = protocol.decode_dataclass(base.PairingCode, result)
        return code

    async def close_session(self, session_id: str) -> None:
        await self._stop_session(session_id, "close")

    async def logout(self, session_id: str, *, jid: str | None = None) -> None:
        jid = self._known_jid(session_id, jid)
        handled = await self._stop_session(session_id, "logout")
        # In the shared store a running session that was not connected (reconnecting,
        # waiting for the network) was not logged out by whatsmeow: its row is still
        # there. Forgetting it again after a real logout deletes nothing.
        if not handled or self.database_url is not None:
            await self._forget_store(session_id, jid)

    async def delete_session(self, session_id: str, *, jid: str | None = None) -> None:
        jid = self._known_jid(session_id, jid)
        await self._stop_session(session_id, "delete")
        await self._forget_store(session_id, jid)

    def _known_jid(self, session_id: str, jid: str | None) -> str | None:
        placement = self._placements.get(session_id)
        return (placement.spec.jid if placement is not None else None) or jid

    async def send(self, session_id: str, message: base.OutgoingMessage) -> base.SendResult:
        result = await self._call(session_id, "send", {"message": message})
        sent: base.SendResult = protocol.decode_dataclass(base.SendResult, result)
        return sent

    async def edit_message(
        self,
        session_id: str,
        chat_jid: str,
        wa_message_id: str,
        text: str,
        mentions: tuple[str, ...] = (),
    ) -> None:
        args = {"chat_jid": chat_jid, "wa_message_id": wa_message_id, "text": text}
        await self._call(session_id, "edit", {**args, "mentions": list(mentions)})

    async def revoke_message(self, session_id: str, chat_jid: str, wa_message_id: str) -> None:
        await self._call(
            session_id, "revoke", {"chat_jid": chat_jid, "wa_message_id": wa_message_id}
        )

    async def mark_read(
        self, session_id: str, chat_jid: str, message_ids: list[str], sender_jid: str | None
    ) -> None:
        await self._call(
            session_id,
            "mark_read",
            {"chat_jid": chat_jid, "message_ids": message_ids, "sender_jid": sender_jid},
        )

    async def send_presence(self, session_id: str, chat_jid: str, presence: ChatPresence) -> None:
        await self._call(session_id, "presence", {"chat_jid": chat_jid, "presence": presence})

    async def set_presence(self, session_id: str, available: bool) -> None:
        await self._call(session_id, "own_presence", {"available": available})

    async def check_numbers(self, session_id: str, phones: list[str]) -> list[base.NumberCheck]:
        result = await self._call(session_id, "check_numbers", {"phones": phones})
        checks: list[base.NumberCheck] = protocol.from_json(list[base.NumberCheck], result)
        return checks

    async def configure_session(self, session_id: str, behaviour: Behaviour) -> None:
        placement = self._placements.get(session_id)
        if placement is None:
            return
        # A worker crash reopens the session from this spec: keep it current.
        placement.spec = replace(placement.spec, behaviour=behaviour)
        if placement.worker.ready and placement.worker.process is not None:
            await self._call(session_id, "configure", {"behaviour": behaviour})

    async def get_groups(self, session_id: str) -> list[GroupInfo]:
        result = await self._call(session_id, "groups", {})
        groups: list[GroupInfo] = protocol.from_json(list[GroupInfo], result)
        return groups

    async def download_media(self, session_id: str, media: MediaRef) -> bytes:
        result = await self._call(session_id, "download", {"media": media})
        data: bytes = protocol.from_json(bytes, result)
        return data

    async def ping(self, session_id: str) -> bool:
        placement = self._placements.get(session_id)
        if placement is None or not placement.worker.ready or placement.worker.process is None:
            return False
        try:
            alive = await placement.worker.process.request(
                "ping", {"session_id": session_id}, timeout=self.stop_timeout
            )
        except (EngineError, TimeoutError):
            return False
        return bool(alive)

    # ------------------------------------------------------------ internals

    def _emit(self, event: EngineEvent) -> None:
        if self._sink is not None:
            self._sink(event)

    def _on_worker_event(self, worker: SupervisedWorker, event: EngineEvent) -> None:
        placement = self._placements.get(event.session_id)
        if placement is None or placement.worker is not worker:
            return  # late event of a session closed or moved meanwhile
        if isinstance(event, Paired):
            placement.spec = replace(placement.spec, resume=True, jid=event.jid)
        elif isinstance(event, LoggedOut):
            placement.spec = replace(placement.spec, resume=False, jid=None)
        if isinstance(event, Connected):
            worker.crash_loop_reported = False
        self._emit(event)
        if isinstance(event, _ENDS_SESSION):
            self._placements.drop(event.session_id)
            self._placements.retire_if_empty(worker)

    async def _call(self, session_id: str, op: str, args: dict[str, Any]) -> Any:
        placement = self._placements.get(session_id)
        if placement is None or not placement.worker.ready or placement.worker.process is None:
            raise SessionNotRunning(session_id)
        try:
            return await placement.worker.process.request(
                op, {"session_id": session_id, **args}, timeout=self.request_timeout
            )
        except TimeoutError as exc:
            raise EngineError(
                "timeout", f"{op} took longer than {self.request_timeout:.0f} s"
            ) from exc

    async def _first_start(self, worker: SupervisedWorker) -> None:
        try:
            await self._recovery.spawn(worker)
        except EngineError as exc:
            worker.start_error = exc
            self._placements.take_out_of_service(worker)
            raise
        finally:
            worker.first_start.set()
        process = worker.process
        if process is not None and not process.alive:
            # It died right after its hello, while the exit handler still ignored it.
            self._recovery.on_exit(worker, process)

    async def _stop_session(self, session_id: str, op: str) -> bool:
        """Stop a session on its worker; True when a worker handled ``op``.

        A worker whose library hangs in ``stop()`` (a dial to an unresponsive network
        holds it up to 60 s) is killed after ``stop_timeout``; its other sessions are
        resumed like after any crash.
        """
        placement = self._placements.get(session_id)
        if placement is None:
            return False
        worker = placement.worker
        self._placements.drop(session_id)
        process = worker.process
        if process is None or not worker.ready:
            self._placements.retire_if_empty(worker)
            return False
        try:
            await process.request(op, {"session_id": session_id}, timeout=self.stop_timeout)
        except (TimeoutError, EngineError) as exc:
            log.warning(
                "engine worker %s could not %s session %s in time (%s); killing it",
                process.id,
                op,
                session_id,
                exc,
            )
            process.exit_detail = f"killed: {op} of session {session_id} hung"
            process.kill()
            await process.exited.wait()
            self._placements.retire_if_empty(worker)
            return False
        self._placements.retire_if_empty(worker)
        return True

    async def _forget_store(self, session_id: str, jid: str | None) -> None:
        if self.database_url is None:
            remove_sqlite_store(sqlite_store_path(self.data_dir, session_id))
        elif jid:
            # The shared store (cluster mode): a device that was connected was removed
            # by its logout; one that was not (offline, or run by no node) is here.
            removed = await forget_device(self.database_url, jid)
            if removed:
                log.info("forgot a device's keys in the shared store", extra={"jid": jid})
