"""The supervisor owns one runner per connection and the engine they share.

It restores linked connections after a restart (staggered, with a concurrency limit
and jitter, so a thousand sessions do not dial at once), runs the periodic health
check, routes engine events to runners, and stops everything on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.cluster.leases import Claim
from zapgate.domain.behaviour import Behaviour
from zapgate.domain.errors import NotFound
from zapgate.domain.states import ConnectionState
from zapgate.engines.base import Engine
from zapgate.engines.clean import clean_text
from zapgate.engines.events import EngineEvent
from zapgate.sessions.recorder import ConnectionRecorder, StatusPayload
from zapgate.sessions.runner import Runner, RunsElsewhere, TrafficListener
from zapgate.sessions.steps import Change
from zapgate.sessions.traffic import behaviour_of
from zapgate.store.db import Database
from zapgate.store.tables.connections import ConnectionRow
from zapgate.util.backoff import BackoffConfig
from zapgate.util.clock import Clock
from zapgate.util.secretbox import SecretBox
from zapgate.util.tasks import TaskOwner

log = logging.getLogger(__name__)

S = ConnectionState

# Reconnects start after 2 s and double up to 5 minutes: quick after a blip, and
# never a storm against WhatsApp after a long outage (that gets numbers flagged).
RECONNECT_BACKOFF = BackoffConfig(min_delay=2.0, max_delay=300.0, factor=2.0, jitter=0.2)
# How long a restore waits for a session to leave "initializing" before letting the
# next one start anyway.
RESTORE_SETTLE_TIMEOUT = 30.0
PING_TIMEOUT = 10.0


class Supervisor:
    def __init__(
        self,
        *,
        engine: Engine,
        db: Database,
        clock: Clock,
        health_interval: float,
        restore_concurrency: int,
        restore_jitter: float,
        status_payload: StatusPayload,
        backoff: BackoffConfig = RECONNECT_BACKOFF,
        rng: random.Random | None = None,
        box: SecretBox | None = None,
        node_id: str | None = None,
        capacity: int | None = None,
    ) -> None:
        """``node_id``: one node of a cluster. It then runs only the connections whose
        lease it holds (``cluster/leases.py`` hands them over through :meth:`adopt` and
        :meth:`let_go`) and fences every write with the lease epoch."""
        self.engine = engine
        self.box = box
        """Opens the connections' sealed proxy URLs (``sessions/proxies.py``)."""
        self._db = db
        self._clock = clock
        self.node_id = node_id
        self.capacity = capacity
        self._recorder = ConnectionRecorder(db, clock, status_payload, node_id=node_id)
        self._runners: dict[str, Runner] = {}
        self._removing: set[str] = set()
        """Connections whose runner is being deleted (``remove``)."""
        self._owner = TaskOwner("supervisor")
        self._backoff = backoff
        self._health_interval = health_interval
        self._restore_gate = asyncio.Semaphore(restore_concurrency)
        self._restore_jitter = restore_jitter
        self._rng = rng or random.Random()
        self.listeners: list[TrafficListener] = []
        self.restoring = 0
        self.health_checks = 0
        self.health_checking = False
        """True while a pass runs (its repairs may still be writing)."""
        self._started = False

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.engine.start(self._sink)
        self._started = True
        if self.node_id is None:
            await self._take_up(await self._recorder.load_all())
        self._owner.spawn(self._health_loop(), name="health")

    async def _take_up(self, rows: list[ConnectionRow], *, claimed: bool = False) -> None:
        """Run these connections here: resume the linked active ones (staggered).

        ``claimed``: taken up through a lease claim, which already wrote ``reconnecting``
        for the linked ones it found running (``claimed``): those are not written again."""
        restore: list[Runner] = []
        for row in rows:
            was_active = S(row.state).is_active
            runner = self._add(row)
            if not was_active:
                continue
            if row.linked:
                restore.append(runner)
            else:
                # A QR or pairing window cannot survive a restart: the codes are gone.
                await runner_move_after_restart(self._recorder, runner)
        unwritten = [r for r in restore if not (claimed and r.state is S.RECONNECTING)]
        if unwritten:
            await self._recorder.record_many(
                [r.connection_id for r in unwritten],
                _restoring("server restarted; resuming the linked device", self._clock.now()),
                epochs={r.connection_id: r.epoch for r in unwritten if r.epoch is not None},
            )
        for runner in restore:
            runner.state = S.RECONNECTING
            self.restoring += 1
            self._owner.spawn(self._restore(runner), name=f"restore:{runner.connection_id}")
        if restore:
            log.info("restoring linked connections", extra={"count": len(restore)})

    async def _restore(self, runner: Runner) -> None:
        try:
            if self._restore_jitter:
                await self._clock.sleep(self._rng.uniform(0, self._restore_jitter))
            async with self._restore_gate:
                if self._runners.get(runner.connection_id) is not runner:
                    # Let go while it waited its turn (handed over, its lease lost, the
                    # node silent past its renewal deadline): opening it would run a
                    # session this node no longer holds.
                    return
                await runner.resume()
                await runner.wait_settled(RESTORE_SETTLE_TIMEOUT)
        finally:
            self.restoring -= 1

    async def close(self) -> None:
        """Stop every session (credentials kept, states left for the next restore)."""
        await self._owner.cancel_all()
        # Changes already recorded are written; the runners' last ones, recorded as
        # they close, are written in their own tasks.
        await self._recorder.close()
        for runner in self._runners.values():
            await runner.close()
        if self._started:
            await self.engine.close()
        await self._owner.close(timeout=1.0)

    # ------------------------------------------------------------ runners

    def _sink(self, event: EngineEvent) -> None:
        runner = self._runners.get(event.session_id)
        if runner is None:
            log.debug("event for an unknown session", extra={"session_id": event.session_id})
            return
        # Where every engine's events enter: from here on, no text holds a NUL.
        runner.deliver(clean_text(event))

    def _add(self, row: ConnectionRow) -> Runner:
        runner = Runner(
            row,
            engine=self.engine,
            recorder=self._recorder,
            clock=self._clock,
            backoff=self._backoff,
            owner=self._owner,
            listeners=self.listeners,
            box=self.box,
        )
        self._runners[row.id] = runner
        return runner

    def add(self, row: ConnectionRow) -> Runner:
        """Register a newly created connection."""
        return self._add(row)

    def find(self, connection_id: str) -> Runner | None:
        """The connection's runner when this node runs it."""
        return self._runners.get(connection_id)

    def epoch_of(self, connection_id: str) -> int | None:
        """The lease epoch of the runner here (cluster), else None."""
        runner = self._runners.get(connection_id)
        return runner.epoch if runner is not None else None

    def get(self, connection_id: str) -> Runner:
        runner = self._runners.get(connection_id)
        if runner is None:
            if self.node_id is not None:
                raise RunsElsewhere(
                    "this connection runs on another node of the cluster; "
                    "send this request to that node or retry",
                )
            raise NotFound("connection not found")
        return runner

    # ------------------------------------------------------------ cluster (leases)

    def lease_for_new(self) -> tuple[str, int] | None:
        """In a cluster: (node, epoch) a connection created here is inserted with, so
        this node runs it from the start; None when full (another node claims it)."""
        if self.node_id is None or len(self._runners) >= (self.capacity or 0):
            return None
        return self.node_id, 1

    def held(self) -> dict[str, int]:
        return {cid: r.epoch or 0 for cid, r in self._runners.items()}

    def movable(self) -> list[str]:
        """Connections in a settled state: ready or inactive, nothing half done."""
        return [
            cid for cid, r in self._runners.items() if r.state is S.READY or not r.state.is_active
        ]

    async def claimed(self, s: AsyncSession, claims: list[Claim]) -> None:
        """Inside the claim's transaction: the state the claimed connections are in
        from now on. A linked one that was running is ``reconnecting`` here (its row
        said what its last owner wrote, often ``ready``, with no session open anywhere);
        one that was waiting to be linked lost its codes with its node. Readers never
        see a claimed connection in the state of a session that no longer exists."""
        ids = [c.connection_id for c in claims if c.connection_id not in self._runners]
        if not ids:
            return
        rows = (await s.scalars(select(ConnectionRow).where(ConnectionRow.id.in_(ids)))).all()
        active = [r for r in rows if S(r.state).is_active]
        message = f"node {self.node_id} took it over; resuming the linked device"
        now = self._clock.now()
        await self._recorder.stage(
            s,
            [
                ([r for r in active if r.linked], _restoring(message, now)),
                ([r for r in active if not r.linked], _CODES_LOST),
            ],
        )

    async def adopt(self, claims: list[Claim]) -> None:
        """Run the connections just claimed (their state written by :meth:`claimed`)."""
        epochs = {c.connection_id: c.epoch for c in claims if c.connection_id not in self._runners}
        rows = await self._recorder.load_many(list(epochs))
        await self._take_up(
            [r for r in rows if r.node_id == self.node_id and r.lease_epoch == epochs[r.id]],
            claimed=True,
        )

    async def let_go(self, connection_ids: list[str]) -> None:
        for cid in connection_ids:
            runner = self._runners.pop(cid, None)
            if runner is None:
                continue
            # Shielded: once the runner is out of the table nothing else would close
            # its engine session, so a cancelled caller (the lease watchdog abandoning a
            # round) must not leave it open; the close goes on and logs its own failure.
            await asyncio.shield(self._close_let_go(cid, runner))

    async def _close_let_go(self, cid: str, runner: Runner) -> None:
        try:
            await runner.close()
            await self.engine.close_session(cid)
        except Exception:
            log.exception("closing a session handed over failed", extra={"connection_id": cid})

    async def catch_up(self, written: dict[str, datetime]) -> None:
        """``written``: when the row of each connection run here was last written. The
        rows written since their runner read them are read again and the settings they
        hold applied: a settings change saved through a node that could not reach this
        one (``services/connections.update``) takes effect within one lease round.

        Called by the lease round, which must never wait for a runner: one opening a
        session holds its lock for as long as the dial takes, far beyond the renewal
        deadline. The settings are compared here, and a change is applied by a task of
        its own, which waits for the runner's lock instead of the round."""
        stale = [
            cid
            for cid, at in written.items()
            if (runner := self._runners.get(cid)) is not None and runner.row_written_at != at
        ]
        if not stale:
            return
        for row in await self._recorder.load_many(stale):
            runner = self._runners.get(row.id)
            if runner is None or runner.deleted or row.node_id != self.node_id:
                continue
            runner.row_written_at = row.updated_at
            behaviour = behaviour_of(row, self.box)
            if behaviour != runner.behaviour:
                self._owner.spawn(self._configure(runner, behaviour), name=f"settings:{row.id}")

    async def _configure(self, runner: Runner, behaviour: Behaviour) -> None:
        if await runner.configure(behaviour):
            log.info(
                "applied settings saved through another node",
                extra={"connection_id": runner.connection_id},
            )

    async def forget(self, connection_id: str, jid: str | None) -> None:
        """A deleted connection no node ran: forget what the engine keeps of its
        device (its keys), with no session to stop first."""
        if connection_id in self._runners:
            await self.remove(connection_id)
            return
        try:
            await self.engine.delete_session(connection_id, jid=jid)
        except Exception:
            log.exception(
                "could not forget a deleted connection's device",
                extra={"connection_id": connection_id},
            )

    async def remove(self, connection_id: str) -> None:
        runner = self._runners.pop(connection_id, None)
        if runner is None:
            return
        # Deleting waits for the runner (a dial may hold it) and the engine: meanwhile
        # the row still names this node, and the lease round must not give it up for
        # another node to resume.
        self._removing.add(connection_id)
        try:
            await runner.delete()
        finally:
            self._removing.discard(connection_id)

    def leaving(self) -> set[str]:
        return set(self._removing)

    def states(self) -> dict[str, ConnectionState]:
        return {cid: r.state for cid, r in self._runners.items()}

    def __len__(self) -> int:
        return len(self._runners)

    # ------------------------------------------------------------ health

    async def _health_loop(self) -> None:
        while True:
            await self._clock.sleep(self._health_interval)
            try:
                await self.check_health()
            except Exception:
                log.exception("health check failed")

    async def check_health(self) -> None:
        """Ping every ``ready`` session; repair the silent ones.

        ``health_checks`` counts finished passes: once it moves, a pass's repairs and its
        ``last_seen_at`` stamps are written.
        """
        self.health_checking = True
        try:
            await self._check_health()
        finally:
            self.health_checks += 1
            self.health_checking = False

    async def _check_health(self) -> None:
        ready = [r for r in self._runners.values() if r.state is S.READY]
        alive: list[str] = []
        for runner in ready:
            try:
                # ``asyncio.timeout``, not ``wait_for``: on Python 3.11 ``wait_for`` can
                # lose a cancellation that lands as the ping ends (shutdown then hangs).
                async with asyncio.timeout(PING_TIMEOUT):
                    ok = await self.engine.ping(runner.connection_id)
            except (TimeoutError, Exception):
                ok = False
            if ok:
                alive.append(runner.connection_id)
            else:
                await runner.health_failed("health check: the session stopped answering")
        if alive:
            now = self._clock.now()
            query = update(ConnectionRow).where(ConnectionRow.id.in_(alive))
            if self.node_id is not None:
                query = query.where(ConnectionRow.node_id == self.node_id)
            async with self._db.write() as s:
                await s.execute(query.values(last_seen_at=now))


def _restoring(message: str, now: datetime) -> Change:
    return Change(
        kind="restoring",
        message=message,
        state=S.RECONNECTING,
        fields={"attempt": 0, "next_retry_at": now},
    )


_CODES_LOST = Change(
    kind="disconnected",
    message="server restarted while waiting to be linked; start it again",
    state=S.DISCONNECTED,
    fields={"error_code": "server_restarted", "error_message": None},
)


async def runner_move_after_restart(recorder: ConnectionRecorder, runner: Runner) -> None:
    await recorder.record(runner.connection_id, _CODES_LOST, epoch=runner.epoch)
    runner.state = S.DISCONNECTED
