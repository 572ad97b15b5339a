"""Live streams end with their credentials.

A stream outlives the request that opened it, so the credential that opened it (an
access token, an API key, a panel session) is checked again while it runs: every
``interval`` seconds, at the token's expiry, and at once when this process changes
credentials. The periodic check is what makes this hold on every node: it goes through
the same credential check as a request, whose cache trusts an answer for at most
``AUTH_CACHE_SECONDS`` (``services/authcache.py``), so a user deleted or a key revoked
by another node ends the stream within ``interval + AUTH_CACHE_SECONDS``. The
in-process nudge (:meth:`Guards.credentials_changed`) makes the common case immediate.
A stream whose credential may have changed here, or whose token's expiry has passed,
delivers nothing until the credential is checked again, so an event committed after a
local revocation or after the expiry never reaches it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from zapgate.domain.errors import DomainError, Unavailable
from zapgate.util.clock import Clock
from zapgate.util.tasks import TaskOwner

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Guard:
    """How to check a stream's credential again."""

    check: Callable[[], Awaitable[object]]
    """Raises a :class:`DomainError` (``Unauthorized``, ``Forbidden``) once the
    credential no longer allows the stream."""
    expires_at: datetime | None = None
    """When the credential ends by itself (an access token's expiry); None: never."""

    def delay(self, now: datetime, interval: float) -> float:
        """Seconds until the next check: ``interval``, or less to land on the expiry."""
        if self.expires_at is None:
            return interval
        return min(interval, max((self.expires_at - now).total_seconds(), 0.0))


class Guarded(Protocol):
    """A stream with a guard (``events.stream.Follower``)."""

    @property
    def guard(self) -> Guard | None: ...

    @property
    def stopped(self) -> bool: ...

    verified: int
    """The :attr:`Guards.generation` its credential was last found valid at."""
    checked: float
    """When (``Clock.monotonic``) its credential was last found valid."""
    expiry: float | None
    """Its guard's ``expires_at`` on ``Clock.monotonic``: compared for every event."""

    def stop(self, error: DomainError) -> None: ...


class Guards:
    """Checks the credentials of guarded streams: one watcher per stream, and one sweep
    over them all after a change made in this process."""

    def __init__(self, clock: Clock, interval: float) -> None:
        self.clock = clock
        self.interval = interval
        self.generation = 0
        """Bumped by every local credential change; a stream verified at an older one
        holds its events until it is verified again."""
        self._watchers: dict[Guarded, asyncio.Task[None]] = {}
        self._tasks = TaskOwner("stream-guards")
        self._sweep: asyncio.Task[None] | None = None

    def watch(self, stream: Guarded) -> None:
        """Check ``stream``'s credential from now on (it was just authenticated)."""
        guard = stream.guard
        if guard is None:
            return
        stream.verified = self.generation
        stream.checked = self.clock.monotonic()
        if guard.expires_at is not None:
            left = (guard.expires_at - self.clock.now()).total_seconds()
            stream.expiry = stream.checked + left
        self._watchers[stream] = self._tasks.spawn(self._watch(stream, guard), name="watch")

    def forget(self, stream: Guarded) -> None:
        watcher = self._watchers.pop(stream, None)
        if watcher is not None:
            watcher.cancel()

    def stale(self, stream: Guarded) -> bool:
        """Whether the stream's credential must be checked before it delivers more: a
        change in this process may have revoked it, or it expired since its last check."""
        if stream.guard is None:
            return False
        if stream.verified < self.generation:
            return True
        expiry = stream.expiry
        return expiry is not None and stream.checked < expiry <= self.clock.monotonic()

    async def verify(self, stream: Guarded) -> None:
        """Check the credential now; stop the stream if it no longer holds."""
        guard = stream.guard
        if guard is None or stream.stopped:
            return
        generation = self.generation
        started = self.clock.monotonic()
        try:
            await guard.check()
        except DomainError as exc:
            stream.stop(exc)
        except Exception as exc:
            # Most likely the database. Failing closed costs the client a reconnect,
            # which authenticates like any request; nothing is lost, it resumes.
            log.warning(
                "could not check a live stream's credentials; ending it",
                extra={"error": type(exc).__name__},
            )
            stream.stop(
                Unavailable("credentials could not be checked", code="credentials_unchecked")
            )
        else:
            stream.verified = max(stream.verified, generation)
            stream.checked = max(stream.checked, started)

    def credentials_changed(self) -> None:
        """A user, role, password or key changed here: check every stream at once."""
        self.generation += 1
        if self._watchers and (self._sweep is None or self._sweep.done()):
            self._sweep = self._tasks.spawn(self._sweep_all(), name="sweep")

    async def close(self) -> None:
        await self._tasks.cancel_all()
        self._watchers.clear()

    async def _watch(self, stream: Guarded, guard: Guard) -> None:
        delay = guard.delay(self.clock.now(), self.interval)
        while not stream.stopped:
            await self.clock.sleep(delay)
            await self.verify(stream)
            following = guard.delay(self.clock.now(), self.interval)
            # Past its expiry, a credential that still passed (the check's clock a
            # second behind) is checked at the normal pace, not in a loop.
            delay = following if following > 0 or delay > 0 else self.interval

    async def _sweep_all(self) -> None:
        # One stream at a time: the change cleared the credential cache, and every
        # stream reading its credential at once would overflow the database's read pool
        # (see authcache.py); streams sharing a credential find it cached again.
        while True:
            generation = self.generation
            for stream in list(self._watchers):
                if self.stale(stream):
                    await self.verify(stream)
            if generation == self.generation:
                return
