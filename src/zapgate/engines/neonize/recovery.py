"""Bringing a worker that died back, with its sessions.

Each of its sessions is reported once as ``Disconnected(retryable=True, reason="engine
worker exited ...")``; then the worker gets a new process, and its sessions are re-opened
there from their stored credentials. The first crash after a stable period moves them to
the warm spare at once; later ones wait a backoff (growing while the worker keeps
crashing, reset once it stayed up ``stable_after``), then take the spare if one is ready
or start a new process. From ``CRASH_LOOP_ATTEMPTS`` restarts in a row the crash loop is
reported once to each session as ``EngineFault("engine_worker_crash_loop")``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from zapgate.domain.errors import EngineError
from zapgate.engines.events import Disconnected, EngineEvent, EngineFault
from zapgate.engines.neonize.placement import (
    CRASH_LOOP_ATTEMPTS,
    Placements,
    SessionPlacement,
    SupervisedWorker,
)
from zapgate.engines.neonize.pool import (
    LibraryUnavailable,
    WorkerExited,
    WorkerOptions,
    WorkerProcess,
)
from zapgate.engines.neonize.spare import WarmSpare
from zapgate.util.clock import Clock
from zapgate.util.tasks import TaskOwner

log = logging.getLogger(__name__)


class WorkerRecovery:
    """Gives workers their processes and brings back the ones that die.

    :meth:`spawn` is the one way a worker gets a process (its first or a restart), so
    every worker process reports its events to ``route`` and its exit to :meth:`on_exit`.
    """

    def __init__(
        self,
        *,
        placements: Placements,
        spare: WarmSpare,
        options: Callable[[], WorkerOptions],
        clock: Clock,
        stable_after: float,
        start_timeout: float,
        tasks: TaskOwner,
        closing: asyncio.Event,
        route: Callable[[SupervisedWorker, EngineEvent], None],
        emit: Callable[[EngineEvent], None],
    ) -> None:
        self._placements = placements
        self._spare = spare
        self._options = options
        """Read at each start, so a change applies to the next process."""
        self._clock = clock
        self._stable_after = stable_after
        self._start_timeout = start_timeout
        self._tasks = tasks
        self._closing = closing
        self._route = route
        self._emit = emit
        self.unavailable: str | None = None
        """Set while workers cannot even load the library (a broken install)."""

    async def spawn(self, worker: SupervisedWorker) -> None:
        """Start a new process for ``worker``; raises :class:`WorkerExited`."""
        process = WorkerProcess(
            self._options(),
            on_event=lambda event: self._route(worker, event),
            on_exit=lambda proc: self.on_exit(worker, proc),
        )
        worker.process = process
        worker.started_at = self._clock.monotonic()
        try:
            await process.spawn()
        except LibraryUnavailable as exc:
            self.unavailable = exc.message
            raise
        self.unavailable = None

    def on_exit(self, worker: SupervisedWorker, process: WorkerProcess) -> None:
        if process is not worker.process or process.expected_exit or self._closing.is_set():
            return
        if worker.restarting:
            return  # a restart attempt died before its hello; the restart loop retries
        if not worker.first_start.is_set():
            return  # never started: the opens waiting for it get the error instead
        log.warning(
            "engine worker %s (pid %s) exited: %s", process.id, process.pid, process.exit_detail
        )
        for session_id, placement in list(worker.sessions.items()):
            if placement.recovering:
                continue  # reported at the previous crash already
            placement.recovering = True
            self._emit(
                Disconnected(
                    session_id,
                    reason=f"engine worker exited ({process.exit_detail})",
                    retryable=True,
                )
            )
        if not worker.sessions:
            self._placements.take_out_of_service(worker)
            return
        if self._clock.monotonic() - worker.started_at >= self._stable_after:
            worker.backoff.reset()
        worker.restarting = True
        self._tasks.spawn(self._restart(worker), name="restart-worker")

    async def _restart(self, worker: SupervisedWorker) -> None:
        while worker.sessions and not self._closing.is_set():
            delay = worker.backoff.next_delay()
            attempt = worker.backoff.attempt
            if attempt >= CRASH_LOOP_ATTEMPTS and not worker.crash_loop_reported:
                worker.crash_loop_reported = True
                log.error(
                    "engine worker keeps crashing (attempt %s); next restart in %.1f s",
                    attempt,
                    delay,
                )
                for session_id in worker.sessions:
                    self._emit(
                        EngineFault(
                            session_id,
                            code="engine_worker_crash_loop",
                            message=f"engine worker crashed {attempt} times in a row; "
                            f"restarting with backoff ({delay:.1f} s)",
                        )
                    )
            # The first crash after a stable period moves to the spare at once; a crash
            # loop waits its backoff either way (then still skips the start if it can).
            spare = self._spare.take() if attempt == 1 else None
            if spare is None:
                await self._clock.sleep(delay)
                spare = self._spare.take()
            if spare is not None:
                self._adopt(worker, spare)
            else:
                try:
                    await self.spawn(worker)
                except WorkerExited as exc:
                    log.warning("engine worker restart failed: %s", exc)
                    continue
            worker.restarting = False
            for placement in list(worker.sessions.values()):
                await self._reopen(worker, placement)
            return
        worker.restarting = False

    async def _reopen(self, worker: SupervisedWorker, placement: SessionPlacement) -> None:
        try:
            await worker.open(placement, timeout=self._start_timeout)
        except EngineError as exc:
            if isinstance(exc, WorkerExited):
                return  # the next exit handler takes over
            self._placements.drop(placement.spec.session_id)
            self._emit(
                Disconnected(
                    placement.spec.session_id,
                    retryable=True,
                    reason=f"could not resume after a worker restart: {exc.message}",
                )
            )
            self._placements.retire_if_empty(worker)

    def _adopt(self, worker: SupervisedWorker, process: WorkerProcess) -> None:
        process.bind(
            on_event=lambda event: self._route(worker, event),
            on_exit=lambda proc: self.on_exit(worker, proc),
        )
        worker.process = process
        worker.started_at = self._clock.monotonic()
        log.info(
            "engine worker %s (pid %s, the warm spare) took over %s session(s)",
            process.id,
            process.pid,
            len(worker.sessions),
        )
