"""The send worker: drains the ``messages`` outbox, one lane per connection.

Protocol (each step its own transaction, so a crash between any two loses nothing):

1. ``POST /messages`` commits the row as ``queued``/``scheduled`` with its WhatsApp id
   already chosen and ``next_attempt_at`` set, then wakes this worker.
2. A lane claims the connection's next due row: ``sending``, ``attempts + 1``.
3. It calls ``engine.send`` with the stored id; the outcome is recorded as ``sent``,
   ``queued`` again with a backoff (transient error) or ``failed`` (permanent error).
4. At start, rows still ``sending`` (a crash or kill between 2 and 3) are queued again
   with the *same* id: the recipient's device drops the copy if the first attempt had
   reached it, so a message is delivered once whatever the moment of the crash. An
   engine that cannot send with our ids (``chooses_message_ids`` False: neonize 0.5.2)
   gets no second attempt; those rows fail with ``send_interrupted`` instead.

One lane per connection sends in order and paces itself (``Pacer``); lanes of different
connections run side by side, so a slow or paced number never holds up another. A
connection that is not ``ready`` keeps its messages waiting until
``outbox_unavailable_timeout``, after which they fail with ``connection_unavailable``.
This module decides which connection sends when; step 3, one claimed row's attempt and
its outcome, is ``attempts.py``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any

from zapgate.domain.errors import NotFound
from zapgate.domain.states import ConnectionState
from zapgate.outbox.attempts import RETRY_BACKOFF, SendAttempts
from zapgate.outbox.outcomes import Outcomes
from zapgate.outbox.ratelimit import DailyCounter, Pacer, next_midnight
from zapgate.services.media import MediaStore
from zapgate.sessions.runner import RunsElsewhere
from zapgate.sessions.supervisor import Supervisor
from zapgate.store.db import Database
from zapgate.util.backoff import BackoffConfig
from zapgate.util.clock import Clock
from zapgate.util.tasks import TaskOwner

log = logging.getLogger(__name__)

# How often the worker looks for messages left ``sending`` by a lane that died (say, the
# database went away between a send and its outcome). A row must be seen so, and held by
# no lane, on two looks in a row: a lane between its claim's commit and holding the row
# is never taken for dead.
STUCK_SWEEP = 60.0


class OutboxSender:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        supervisor: Supervisor,
        media: MediaStore,
        *,
        rate_per_minute: int,
        jitter: float,
        daily_cap: int,
        unavailable_timeout: float,
        max_attempts: int,
        poll_interval: float,
        backoff: BackoffConfig = RETRY_BACKOFF,
        rng: random.Random | None = None,
    ) -> None:
        self._clock = clock
        self._supervisor = supervisor
        self._out = Outcomes(db)
        self._rate = rate_per_minute
        self._cap = daily_cap
        self._unavailable = timedelta(seconds=unavailable_timeout)
        self._poll = poll_interval
        rng = rng or random.Random()
        self.pacer = Pacer(clock, jitter=jitter, rng=rng)
        self._daily = DailyCounter()
        self._owner = TaskOwner("outbox")
        self._lanes: dict[str, asyncio.Task[Any]] = {}
        self._nudged: set[str] = set()
        self._paused: dict[str, datetime] = {}
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._failing = False
        self._held: set[str] = set()
        self._suspects: set[str] = set()
        self._next_sweep = 0.0
        self._resend = True
        self._dispatcher: asyncio.Task[Any] | None = None
        self._attempts = SendAttempts(
            db,
            clock,
            supervisor,
            media,
            self._out,
            pacer=self.pacer,
            daily=self._daily,
            max_attempts=max_attempts,
            backoff=backoff,
            rng=rng,
            stop=self._stop,
            pause=self._pause,
        )
        self.dispatches = 0
        """Dispatch passes completed: lets a test see that a decision was taken."""
        self._recovered: dict[str, int] = {}
        """In a cluster: the lease epoch each held connection's recovery was done for."""

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._resend = self._supervisor.engine.chooses_message_ids
        if self._supervisor.node_id is None:
            recovered = await self._out.recover(self._clock.now(), resend=self._resend)
            if recovered:
                log.info("requeued messages interrupted while sending", extra={"count": recovered})
        self._next_sweep = self._clock.monotonic() + STUCK_SWEEP
        self._dispatcher = self._owner.spawn(self._run(), name="dispatch")

    def problem(self) -> str | None:
        """None while the dispatcher runs and reaches the database; else a short reason."""
        if self._dispatcher is None or self._dispatcher.done():
            return "outbox worker not running"
        if self._failing:
            return "outbox worker failing to read the queue"
        if self._attempts.unrecorded:
            return f"{len(self._attempts.unrecorded)} sent message(s) waiting to be recorded"
        return None

    async def close(self, timeout: float = 5.0) -> None:
        """Stop claiming; let sends in flight finish up to ``timeout``, then cancel them.

        A cancelled send leaves its row ``sending``; the next start requeues it with the
        same WhatsApp id, so it is never lost and never delivered twice.
        """
        self._stop.set()
        self._wake.set()
        await self._owner.close(timeout=timeout)

    def wake(self, connection_id: str | None = None) -> None:
        """A message was committed; a running lane picks it up, else dispatch runs."""
        if connection_id is not None and connection_id in self._lanes:
            self._nudged.add(connection_id)
            return
        if (
            connection_id is not None
            and self._supervisor.node_id is not None
            and self._supervisor.find(connection_id) is None
        ):
            # Another node of the cluster sends it: a dispatch pass here would skip it
            # (its owner's poll finds it). Waking for every such accept kept one node
            # in back-to-back passes, each reading every due message's connection.
            return
        self._wake.set()

    @property
    def sends(self) -> int:
        return self._attempts.sends

    @property
    def lanes(self) -> int:
        return len(self._lanes)

    def paused_until(self, connection_id: str) -> datetime | None:
        """When a connection that reached its daily cap may send again (None: not paused)."""
        return self._paused.get(connection_id)

    # ------------------------------------------------------------ dispatch

    async def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                await self._dispatch()
                self.dispatches += 1
                if self._failing:
                    log.info("outbox dispatch recovered")
                    self._failing = False
            except Exception:
                # Log the first failure, not one per poll while the database is away.
                if not self._failing:
                    log.exception("outbox dispatch failed; retrying")
                self._failing = True
            await self._pause(self._poll, wakeable=True)

    async def _dispatch(self) -> None:
        now = self._clock.now()
        held = self._held_here()
        if held is not None:
            await self._recover_taken_over(held, now)
        if self._clock.monotonic() >= self._next_sweep:
            await self._sweep(now, held)
            self._next_sweep = self._clock.monotonic() + STUCK_SWEEP
        for connection_id in await self._out.due_connections(now):
            if connection_id is None:
                await self._fail_orphans(now)
                continue
            if connection_id in self._lanes:
                continue
            if held is not None and connection_id not in held:
                continue  # another node of the cluster sends its messages
            until = self._paused.get(connection_id)
            if until is not None and until > now:
                continue
            self._paused.pop(connection_id, None)
            self._spawn_lane(connection_id)

    def _held_here(self) -> dict[str, int] | None:
        """In a cluster: the connections this node holds (id -> lease epoch); else None."""
        return self._supervisor.held() if self._supervisor.node_id is not None else None

    async def _recover_taken_over(self, held: dict[str, int], now: datetime) -> None:
        """In a cluster, what a restart does for every connection is done for each one
        this node takes over: its messages left ``sending`` by the node before."""
        for cid in [c for c in self._recovered if c not in held]:
            del self._recovered[cid]
        new = sorted(cid for cid, epoch in held.items() if self._recovered.get(cid) != epoch)
        if not new:
            return
        # A lane of this node may still be sending (or recording) one of them: this
        # node held the connection before, lost it and took it back.
        count = await self._out.recover(
            now, resend=self._resend, connections=new, busy=set(self._held)
        )
        self._recovered.update({cid: held[cid] for cid in new})
        for cid in new:
            # What this node remembers of a connection it held before is stale: another
            # node may have sent for it since. Both are seeded again from the database.
            self.pacer.forget(cid)
            self._daily.forget(cid)
        if count:
            log.info("requeued messages interrupted while sending", extra={"count": count})

    async def _sweep(self, now: datetime, held: dict[str, int] | None = None) -> None:
        """Recover messages left ``sending`` by a lane that died, as a restart would."""
        mine = sorted(held) if held is not None else None
        sending = set(await self._out.sending_ids(mine)) - self._held
        stuck, self._suspects = sending & self._suspects, sending
        if stuck:
            count = await self._out.recover(now, resend=self._resend, ids=sorted(stuck))
            self._suspects -= stuck
            log.warning("recovered messages left sending by a failed send", extra={"count": count})

    def _spawn_lane(self, connection_id: str) -> None:
        task = self._owner.spawn(self._lane(connection_id), name=f"lane:{connection_id}")
        self._lanes[connection_id] = task

    async def _fail_orphans(self, now: datetime) -> None:
        ids = await self._out.waiting_since(None, before=now + timedelta(seconds=1), now=now)
        await self._out.fail(
            ids, code="connection_deleted", message="the connection was deleted", now=now
        )

    async def _pause(self, seconds: float, *, wakeable: bool = False) -> None:
        """Sleep on the clock; stopping (and, if ``wakeable``, a wake-up) cuts it short."""
        waits: list[Coroutine[Any, Any, Any]] = [self._clock.sleep(seconds), self._stop.wait()]
        if wakeable:
            waits.append(self._wake.wait())
        tasks = [asyncio.ensure_future(w) for w in waits]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()

    # ------------------------------------------------------------ one connection

    def _ready(self, connection_id: str) -> bool:
        try:
            return self._supervisor.get(connection_id).state is ConnectionState.READY
        except (NotFound, RunsElsewhere):
            return False

    async def _lane(self, connection_id: str) -> None:
        try:
            rate, cap = await self._out.limits(connection_id)
            per_minute = rate or self._rate
            daily_cap = cap or self._cap
            while not self._stop.is_set():
                now = self._clock.now()
                held = self._held_here()
                if held is not None and connection_id not in held:
                    return  # handed over: its new node sends the rest
                if not self._ready(connection_id):
                    await self._expire(connection_id, now)
                    return
                if not self.pacer.knows(connection_id):
                    await self._seed_pace(connection_id, per_minute)
                wait = self.pacer.wait_time(connection_id)
                if wait > 0:
                    await self._pause(wait)
                    continue
                if await self._sent_today(connection_id, now) >= daily_cap:
                    self._paused[connection_id] = next_midnight(now)
                    log.warning(
                        "daily send cap reached; the rest waits for tomorrow",
                        extra={"connection_id": connection_id, "cap": daily_cap},
                    )
                    return
                self._nudged.discard(connection_id)
                lease = None
                if held is not None and self._supervisor.node_id is not None:
                    lease = (self._supervisor.node_id, held[connection_id])
                row = await self._out.claim(connection_id, now, lease=lease)
                if row is None:
                    if connection_id in self._nudged:
                        continue
                    return
                self._held.add(row.id)
                try:
                    await self._attempts.run(row, per_minute)
                finally:
                    self._held.discard(row.id)
        finally:
            self._lanes.pop(connection_id, None)

    async def _seed_pace(self, connection_id: str, per_minute: int) -> None:
        """This process has not sent for the connection yet (it started, or took the
        connection over): the pace continues from the last send, wherever it went out."""
        since = self._clock.now() - timedelta(seconds=self.pacer.longest_gap(per_minute))
        last = await self._out.last_sent(connection_id, since)
        self.pacer.seed(connection_id, per_minute, last)

    async def _sent_today(self, connection_id: str, now: datetime) -> int:
        today = now.date()
        if not self._daily.known(connection_id, today):
            midnight = next_midnight(now) - timedelta(days=1)
            self._daily.seed(
                connection_id, today, await self._out.sent_since(connection_id, midnight)
            )
        return self._daily.count(connection_id, today)

    async def _expire(self, connection_id: str, now: datetime) -> None:
        ids = await self._out.waiting_since(connection_id, before=now - self._unavailable, now=now)
        if ids:
            waited = self._unavailable.total_seconds()
            await self._out.fail(
                ids,
                code="connection_unavailable",
                message=f"the connection was not ready for {waited:.0f} s",
                now=now,
            )
