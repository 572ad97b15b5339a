"""Wake-ups between nodes: PostgreSQL LISTEN/NOTIFY on one channel.

A notification carries no data that matters: it only says "look now". Whoever is woken
reads the database, which stays the truth, so a notification lost (a dropped listening
connection, a node starting) costs latency, never correctness: every reader also polls.
The listening connection is its own (asyncpg), outside the pool; it is reopened when it
drops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.util.clock import Clock
from zapgate.util.tasks import TaskOwner

log = logging.getLogger(__name__)

Callback = Callable[[str], None]


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy ``postgresql+asyncpg://`` URL as asyncpg wants it."""
    return "postgresql://" + url.split("://", 1)[1]


NOTIFY_TIMEOUT = 2.0
"""Seconds a notification may take before it is given up (and the others poll)."""


class WakeUps:
    """Listens on ``channel``; :meth:`notify` wakes every node listening (this one too)."""

    def __init__(
        self,
        url: str,
        clock: Clock,
        channel: str = "zapgate_cluster",
        *,
        notify_timeout: float = NOTIFY_TIMEOUT,
    ) -> None:
        self._dsn = asyncpg_dsn(url)
        self._notify_timeout = notify_timeout
        self._clock = clock
        self.channel = channel
        self._callbacks: list[Callback] = []
        self._conn: Any = None
        self._owner = TaskOwner("wakeups")
        self._closed = False
        self._lock = asyncio.Lock()
        self.received = 0

    def subscribe(self, callback: Callback) -> None:
        """``callback(payload)`` runs on the loop at each notification (and reconnect)."""
        self._callbacks.append(callback)

    async def start(self) -> None:
        await self._connect()
        self._owner.spawn(self._watch(), name="wakeups")

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self._dsn)
        await conn.add_listener(self.channel, self._on_notify)
        self._conn = conn

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self.received += 1
        self._fire(payload)

    def _fire(self, payload: str) -> None:
        for callback in self._callbacks:
            try:
                callback(payload)
            except Exception:
                log.exception("wake-up callback failed")

    async def _watch(self) -> None:
        """Reopen the listening connection when it drops; wake everyone when it is back
        (notifications sent meanwhile were lost)."""
        while True:
            await self._clock.sleep(1.0)
            if self._conn is not None and not self._conn.is_closed():
                continue
            try:
                await self._connect()
            except Exception as exc:
                log.warning("cannot listen for wake-ups", extra={"error": type(exc).__name__})
                continue
            self._fire("")

    async def notify(self, payload: str = "") -> None:
        conn = self._conn
        if conn is None or conn.is_closed():
            # Lost: the others learn by polling (the log tail, the leases) or, for
            # credentials, when their caches age out (ZAPGATE_AUTH_CACHE_SECONDS).
            log.warning("cannot notify the other nodes: not listening", extra={"wake": payload})
            return
        try:
            # Bounded: a listening connection that stopped answering (a cut network, a
            # stuck server) must not hold up a lease round or a shutdown's handover.
            # The others learn anyway, by polling, as when a notification is lost. Only
            # the statement is timed: one waiting behind a slow but healthy notify must
            # not drop the connection (a notify behind a stuck one finds it closed).
            async with self._lock:
                if conn.is_closed():
                    raise ConnectionError("the listening connection was dropped")
                async with asyncio.timeout(self._notify_timeout):
                    await conn.execute("SELECT pg_notify($1, $2)", self.channel, payload)
        except TimeoutError:
            # Given up: the connection is dropped, and the watch opens a new one.
            log.warning("notify timed out; listening again", extra={"wake": payload})
            conn.terminate()
        except Exception as exc:
            log.warning("notify failed", extra={"error": type(exc).__name__, "wake": payload})

    def announce(self, payload: str) -> None:
        """:meth:`notify` without waiting for it (from code that cannot await): a task
        of this listener's own, cancelled at close."""
        if not self._closed:
            self._owner.spawn(self.notify(payload), name=f"notify {payload}")

    async def close(self) -> None:
        self._closed = True
        await self._owner.cancel_all()
        await self._owner.close(timeout=1.0)
        if self._conn is not None:
            try:
                await asyncio.wait_for(self._conn.close(), 2.0)
            except Exception:
                self._conn.terminate()
            self._conn = None


EVENTS = "events"
"""The wake-up every event-writing transaction sends at its commit."""

CREDENTIALS = "credentials"
"""Sent after a user, role, password or API key changed: every node forgets the
credentials it remembered (``services/cluster.share_credential_changes``)."""


def notify_at_commit(
    channel: str = "zapgate_cluster",
) -> Callable[[AsyncSession, list[Any]], Coroutine[Any, Any, None]]:
    """An in-transaction event hook: a notification sent when (and only if) the events
    commit, so other nodes' log tails read them now."""

    async def hook(session: AsyncSession, _events: list[Any], /) -> None:
        await session.execute(text("SELECT pg_notify(:c, :p)"), {"c": channel, "p": EVENTS})

    return hook
