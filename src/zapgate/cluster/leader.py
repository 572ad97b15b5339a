"""One node at a time does what must not run twice: the webhook and export deliveries.

Each node tries a PostgreSQL session advisory lock on a connection of its own; the one
that holds it leads. When the leader dies its connection closes and PostgreSQL frees the
lock, so another node takes over within ``interval`` seconds.

A leader that stops answering while its connection stays open (its process paused, a
partition TCP has not noticed) would keep the lock, and every node's deliveries would
wait. So the leader's connection ends after ``silence`` seconds without a statement
(PostgreSQL's ``idle_session_timeout``), which frees the lock; a task of its own pings
it every ``interval`` (not the step, which waits for ``on_tick``: a slow tick must not
cost a healthy leader its lock). A leader is ``current`` only while its last answered
ping is younger than ``silence`` less an interval: the dispatcher claims nothing once it
is not, so a leader waking from a long pause sends no new batch before its next step
finds the connection gone and steps down (``on_lose``). Requests it had in flight when
it stopped can still complete after another node leads: at least once, same delivery
id. Deliveries stay ``pending`` in the table meanwhile: a change of leader delays them,
never loses them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from zapgate.cluster.wakeups import asyncpg_dsn
from zapgate.util.clock import Clock
from zapgate.util.tasks import TaskOwner

log = logging.getLogger(__name__)

LEADER_LOCK_KEY = 0x7A617067_02
Step = Callable[[], Awaitable[None]]


class Leadership:
    def __init__(
        self,
        url: str,
        clock: Clock,
        *,
        on_gain: Step,
        on_lose: Step,
        on_tick: Step,
        interval: float = 2.0,
        silence: float = 15.0,
    ) -> None:
        if silence < 2 * interval:
            raise ValueError("silence must be at least two intervals between pings")
        self._dsn = asyncpg_dsn(url)
        self._clock = clock
        self._on_gain = on_gain
        self._on_lose = on_lose
        self._on_tick = on_tick
        self.interval = interval
        self.silence = silence
        self._conn: Any = None
        self._using = asyncio.Lock()
        """One statement at a time on the leader's connection (the step's, the pings)."""
        self._answered_at = 0.0
        """When the leader's connection last answered (the clock's monotonic time)."""
        self.leader = False
        self._owner = TaskOwner("leadership")
        self._pings = TaskOwner("leadership pings")

    def current(self) -> bool:
        """Leading, and surely still holding the lock: the connection answered recently
        enough that PostgreSQL cannot have ended it for silence."""
        age = self._clock.monotonic() - self._answered_at
        return self.leader and age < self.silence - self.interval

    async def start(self) -> None:
        await self.step()
        self._owner.spawn(self._loop(), name="leadership")

    async def _loop(self) -> None:
        while True:
            await self._clock.sleep(self.interval)
            try:
                await self.step()
            except Exception:
                log.exception("leadership step failed")

    async def step(self) -> None:
        if self.leader:
            try:
                await self._ping()
            except Exception:
                log.warning("lost the leader's database connection; not leading any more")
                await self._step_down()
                return
            await self._on_tick()
            return
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await self._connect()
            won = await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK_KEY)
        except Exception as exc:
            log.warning("cannot try for leadership", extra={"error": type(exc).__name__})
            await self._drop_connection()
            return
        if won:
            self._answered_at = self._clock.monotonic()
            self._pings.spawn(self._keep_alive(), name="leader pings")
            # Leading from now on: the workers ``on_gain`` starts claim at once
            # (``current``).
            self.leader = True
            try:
                await self._on_gain()
            except Exception:
                # Holding the lock without delivering would stop every delivery of the
                # cluster: undo what started, give the lock back, try again next step.
                log.exception("could not start leading; the lock is given back")
                self.leader = False
                await self._quietly(self._on_lose)
                await self._drop_connection()
                return
            log.info("leading: this node delivers webhooks and exports")

    async def _connect(self) -> Any:
        idle_ms = str(max(1, round(self.silence * 1000)))
        try:
            return await asyncpg.connect(
                self._dsn, server_settings={"idle_session_timeout": idle_ms}
            )
        except asyncpg.exceptions.UndefinedObjectError:
            # PostgreSQL before 14 has no such setting (not tested here: 15 runs).
            log.warning(
                "this PostgreSQL has no idle_session_timeout (14 and later have): a "
                "leader paused with its connection open keeps the delivery lock until "
                "it resumes"
            )
            return await asyncpg.connect(self._dsn)

    async def _ping(self) -> None:
        async with self._using:
            # Not ``wait_for``, which can lose a cancel on 3.11 (``cluster/leases.py``).
            async with asyncio.timeout(self.interval):
                await self._conn.fetchval("SELECT 1")
        self._answered_at = self._clock.monotonic()

    async def _keep_alive(self) -> None:
        """Ping the lock's connection every ``interval`` while it is open. A ping that
        fails on a connection still open (a slow answer) is followed by the next one;
        whether the lock is lost is the step's to judge (it pings too)."""
        while self._conn is not None and not self._conn.is_closed():
            await self._clock.sleep(self.interval)
            try:
                await self._ping()
            except Exception:
                log.debug("a ping of the leader's connection failed", exc_info=True)

    async def _step_down(self) -> None:
        """Stop delivering, then let go of the lock: the requests in flight finish (and
        are recorded) before another node may lead and claim them again."""
        self.leader = False
        try:
            await self._on_lose()
        finally:
            await self._drop_connection()

    @staticmethod
    async def _quietly(step: Step) -> None:
        try:
            await step()
        except Exception:
            log.exception("leadership: stopping after a failed start failed too")

    async def _drop_connection(self) -> None:
        await self._pings.cancel_all()
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.close(), 2.0)
            except Exception:
                conn.terminate()

    async def close(self) -> None:
        await self._owner.cancel_all()
        await self._owner.close(timeout=1.0)
        if self.leader:
            await self._step_down()
        else:
            await self._drop_connection()
