"""The warm spare: a started, idle worker that takes over when a worker dies.

Starting a worker costs seconds (Python, then ``import neonize``); moving sessions onto
the spare costs ~0.05 s. A replacement spare is started in the background after a delay
that grows while spares keep dying or being used up (reset once one lasted
``stable_after``), so spares never spawn hot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from zapgate.engines.events import EngineEvent
from zapgate.engines.neonize.placement import CRASH_LOOP_ATTEMPTS
from zapgate.engines.neonize.pool import WorkerExited, WorkerOptions, WorkerProcess
from zapgate.util.backoff import Backoff, BackoffConfig
from zapgate.util.clock import Clock
from zapgate.util.tasks import TaskOwner

log = logging.getLogger(__name__)


class WarmSpare:
    """Keeps one started, idle worker from :meth:`keep` on; :meth:`take` hands it over."""

    def __init__(
        self,
        *,
        options: Callable[[], WorkerOptions],
        clock: Clock,
        backoff: BackoffConfig,
        stable_after: float,
        tasks: TaskOwner,
        closing: asyncio.Event,
    ) -> None:
        self._options = options
        """Read at each start, so a change applies to the next spare."""
        self._clock = clock
        self._stable_after = stable_after
        self._tasks = tasks
        self._closing = closing
        self._process: WorkerProcess | None = None
        self._since = 0.0
        self._gone = asyncio.Event()
        self._backoff = Backoff(backoff)
        self._loop: asyncio.Task[None] | None = None
        self._crash_loop_reported = False

    @property
    def process(self) -> WorkerProcess | None:
        """The spare when one is started and idle."""
        process = self._process
        return process if process is not None and process.alive else None

    @property
    def failing(self) -> bool:
        """Spares keep failing to start and none is ready."""
        return self._crash_loop_reported and self.process is None

    def keep(self) -> None:
        """Start keeping a spare; calls after the first do nothing."""
        if self._loop is None and not self._closing.is_set():
            self._loop = self._tasks.spawn(self._keep(), name="warm-spare")

    def take(self) -> WorkerProcess | None:
        """The idle spare, now the caller's to bind (:meth:`WorkerProcess.bind`), if any."""
        process = self.process
        if process is None:
            return None
        self._process = None
        self._lost()
        return process

    async def close(self, timeout: float) -> None:
        process, self._process = self._process, None
        if process is not None:
            await process.stop(timeout)

    def _lost(self) -> None:
        """The spare was used up or died: the loop starts the next one after its backoff."""
        if self._clock.monotonic() - self._since >= self._stable_after:
            self._backoff.reset()
            self._crash_loop_reported = False
        self._gone.set()

    def _on_exit(self, process: WorkerProcess) -> None:
        if process is not self._process or process.expected_exit or self._closing.is_set():
            return
        log.warning(
            "warm spare engine worker %s (pid %s) exited: %s",
            process.id,
            process.pid,
            process.exit_detail,
        )
        self._process = None
        self._lost()

    def _on_event(self, event: EngineEvent) -> None:
        log.warning("ignoring %s from the idle warm spare", type(event).__name__)

    async def _keep(self) -> None:
        delay = 0.0
        while not self._closing.is_set():
            if delay:
                attempt = self._backoff.attempt
                if attempt >= CRASH_LOOP_ATTEMPTS and not self._crash_loop_reported:
                    self._crash_loop_reported = True
                    log.error(
                        "warm spare engine workers keep dying or being used up "
                        "(attempt %s); next one in %.1f s",
                        attempt,
                        delay,
                    )
                await self._clock.sleep(delay)
            process = WorkerProcess(self._options(), on_event=self._on_event, on_exit=self._on_exit)
            self._since = self._clock.monotonic()
            try:
                await process.spawn()
            except WorkerExited as exc:
                log.warning("warm spare engine worker did not start: %s", exc)
                self._lost()
            except asyncio.CancelledError:
                process.expected_exit = True
                process.kill()
                raise
            else:
                self._since = self._clock.monotonic()
                self._process = process
            await self._gone.wait()
            self._gone.clear()
            delay = self._backoff.next_delay()
