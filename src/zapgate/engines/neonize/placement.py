"""Where each session runs: which worker holds it, and which workers are in service.

A :class:`SupervisedWorker` outlives its processes: a restart, or the warm spare taking
over, gives it a new one while its sessions stay placed on it. A
:class:`SessionPlacement` is one session on one worker, with the spec the worker opens
it with (again after a crash). :class:`Placements` fills a worker up to
``sessions_per_worker`` before it starts another, and stops a worker that holds no
session any more.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from zapgate.domain.errors import EngineError
from zapgate.engines import base
from zapgate.engines.neonize.pool import WorkerProcess
from zapgate.util.backoff import Backoff, BackoffConfig
from zapgate.util.tasks import TaskOwner

CRASH_LOOP_ATTEMPTS = 3
"""Restarts in a row after which a worker counts as crash-looping (logged and reported)."""


@dataclass
class SessionPlacement:
    spec: base.SessionSpec
    """Kept current (paired JID, logged out), so a re-open after a crash resumes right."""
    worker: SupervisedWorker
    recovering: bool = False
    """Re-opened by the engine after a worker crash, not yet claimed by an open_session."""


class SupervisedWorker:
    """One worker as the engine supervises it: the sessions placed on it, the process
    serving them now (replaced by a restart or the warm spare) and its restart state."""

    def __init__(self, backoff: Backoff) -> None:
        self.process: WorkerProcess | None = None
        self.backoff = backoff
        self.sessions: dict[str, SessionPlacement] = {}
        self.started_at = 0.0
        self.restarting = False
        self.retired = False
        self.crash_loop_reported = False
        """Restarted ``CRASH_LOOP_ATTEMPTS`` times in a row; cleared when a session connects."""
        self.first_start = asyncio.Event()
        """Set once the worker's first start has ended, either way."""
        self.start_error: EngineError | None = None

    @property
    def ready(self) -> bool:
        return self.process is not None and self.process.alive and not self.restarting

    async def open(self, placement: SessionPlacement, *, timeout: float) -> None:
        """Open ``placement``'s session on the current process."""
        assert self.process is not None
        try:
            await self.process.request("open", {"spec": placement.spec}, timeout=timeout)
        except TimeoutError as exc:
            raise EngineError("timeout", "the engine worker did not start the session") from exc


class Placements:
    """The sessions placed on workers, and the workers in service."""

    def __init__(
        self,
        *,
        sessions_per_worker: int,
        backoff: BackoffConfig,
        stop_timeout: float,
        closing: asyncio.Event,
    ) -> None:
        self.sessions_per_worker = sessions_per_worker
        self._backoff = backoff
        self._stop_timeout = stop_timeout
        self._closing = closing
        self._sessions: dict[str, SessionPlacement] = {}
        self.workers: list[SupervisedWorker] = []
        """In service: new sessions may be placed on them (retired ones are not here)."""
        self._retiring = TaskOwner("neonize-engine-retire")

    def get(self, session_id: str) -> SessionPlacement | None:
        return self._sessions.get(session_id)

    def place(self, spec: base.SessionSpec) -> tuple[SessionPlacement, bool]:
        """Put a session on a worker with room; True when that worker is a new one the
        caller must start.

        Placed before the worker has started, so opens arriving meanwhile (a restart
        restores many at once) count this one and wait for the same start.
        """
        worker, new = self._worker_with_room()
        placement = SessionPlacement(spec=spec, worker=worker)
        self._sessions[spec.session_id] = placement
        worker.sessions[spec.session_id] = placement
        return placement, new

    def _worker_with_room(self) -> tuple[SupervisedWorker, bool]:
        for worker in self.workers:
            if not worker.retired and len(worker.sessions) < self.sessions_per_worker:
                return worker, False
        worker = SupervisedWorker(Backoff(self._backoff))
        self.workers.append(worker)
        return worker, True

    def drop(self, session_id: str) -> None:
        placement = self._sessions.pop(session_id, None)
        if placement is not None:
            placement.worker.sessions.pop(session_id, None)

    def take_out_of_service(self, worker: SupervisedWorker) -> None:
        """No session is placed on ``worker`` any more (its process is left as it is)."""
        worker.retired = True
        if worker in self.workers:
            self.workers.remove(worker)

    def retire_if_empty(self, worker: SupervisedWorker) -> None:
        """Stop a worker that holds no session any more, in the background."""
        if worker.sessions or worker.retired or self._closing.is_set():
            return
        self.take_out_of_service(worker)
        self._retiring.spawn(self._retire(worker), name="retire-worker")

    async def _retire(self, worker: SupervisedWorker) -> None:
        worker.retired = True
        if worker.process is not None:
            await worker.process.stop(self._stop_timeout)

    async def close(self) -> None:
        """Stop every worker, including those still retiring, and forget every session."""
        workers, self.workers = self.workers, []
        await asyncio.gather(*(self._retire(w) for w in workers), return_exceptions=True)
        await self._retiring.close(timeout=self._stop_timeout * 2)
        self._sessions.clear()
