"""Connection leases: which node runs which connection, and the loop that keeps them.

A lease is ``connections.node_id`` plus ``lease_epoch``; it stays valid while its node
heartbeats (``nodes.heartbeat_at`` younger than the lease). Every ``lease / 5`` seconds
the keeper:

1. heartbeats; if half a lease passed since the last heartbeat that got through (the
   database unreachable, the process paused), it first closes every session here and
   writes nothing for them: by the time another node may take them over, this one is
   silent (the renewal deadline is shorter than the lease). A watchdog of its own
   enforces the same deadline while a round is stuck (a query waiting on a lock or a
   dead connection): it abandons the round and closes the sessions on time;
2. checks what it holds against the table: a connection taken over elsewhere (its
   epoch moved on) is closed here at once; the holder reads again the rows written
   since it read them (settings saved through a node that could not reach this one);
   a row that names this node but runs nothing here, at two rounds in a row (a step
   that failed half way), is given up so that it is claimed afresh;
3. claims unowned connections and those of dead or stopping nodes, up to its fair share
   (``ceil(connections / live nodes)``) and its capacity, bumping each one's epoch;
4. hands over, a few per round, what it holds beyond its fair share (graceful handover:
   a node joining the cluster fills up over a few rounds, never in a storm).

Writes a runner makes carry its epoch (``sessions/recorder.py``): a node that lost a
lease can write nothing for that connection, whatever its tasks still try.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.cluster.nodes import NodeRegistry
from zapgate.cluster.wakeups import WakeUps
from zapgate.store.db import Database
from zapgate.store.tables.cluster import NodeRow
from zapgate.store.tables.connections import ConnectionRow
from zapgate.util.clock import Clock
from zapgate.util.tasks import TaskOwner

log = logging.getLogger(__name__)

LEASES = "leases"
"""The wake-up that makes every keeper run a round now (connections were let go)."""
HANDOVER_PER_ROUND = 5
PRUNE_EVERY = 50
"""Rounds between two looks for long-dead nodes to forget."""
"""Connections a node above its fair share hands over per round."""


@dataclass(frozen=True)
class Claim:
    connection_id: str
    epoch: int


def fair_shares(total: int, capacities: dict[str, int]) -> dict[str, int]:
    """How many of ``total`` connections each live node should run: as even as their
    capacities allow (the smallest capacities filled first), the remainder going to the
    first ids; the shares add up to ``total`` unless every node is full."""
    shares: dict[str, int] = {}
    remaining = total
    order = sorted(capacities, key=lambda node: (capacities[node], node))
    for index, node in enumerate(order):
        left = len(order) - index
        shares[node] = min(capacities[node], math.ceil(remaining / left) if remaining else 0)
        remaining -= shares[node]
    return shares


class Holder(Protocol):
    """What runs the sessions (``sessions.supervisor.Supervisor``)."""

    def held(self) -> dict[str, int]:
        """Connection id -> epoch of every connection run here."""
        ...

    def movable(self) -> list[str]:
        """Held connections in a settled state (ready or inactive): safe to hand over."""
        ...

    def leaving(self) -> set[str]:
        """Connections no longer run here but still being worked on (being deleted):
        their rows name this node until that is done, and are not to be given up."""
        ...

    async def claimed(self, s: AsyncSession, claims: list[Claim]) -> None:
        """Inside the claim's transaction (rows locked): write the state the claimed
        connections are in now that this node takes them up."""
        ...

    async def adopt(self, claims: list[Claim]) -> None:
        """Start running newly claimed connections (resume the linked active ones)."""
        ...

    async def let_go(self, connection_ids: list[str]) -> None:
        """Close these sessions here and forget them, writing nothing."""
        ...

    async def catch_up(self, written: dict[str, datetime]) -> None:
        """When each held connection's row was last written (``updated_at``): apply what
        was saved since the holder read it."""
        ...


class LeaseKeeper:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        registry: NodeRegistry,
        holder: Holder,
        wakeups: WakeUps | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._registry = registry
        self._holder = holder
        self._wakeups = wakeups
        self.node_id = registry.identity.id
        self._lease = registry.identity.lease
        self._capacity = registry.identity.capacity
        seconds = self._lease.total_seconds()
        self.interval = seconds / 5
        self.deadline = seconds / 2
        self._last_renewal: float | None = None
        self._renewed = asyncio.Event()
        self._cut_off = False
        self._unrun: dict[str, int] = {}
        """Rows naming this node that it did not run at the last round: id -> epoch."""
        # Held while sessions are being closed for silence: a round waits for it, so it
        # never adopts a connection that a silence in progress is still closing.
        self._silencing = asyncio.Lock()
        self._round: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._owner = TaskOwner("leases")
        self.rounds = 0

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        # A renewal counts from when it was sent (the row's now() is its transaction's).
        sent = self._clock.monotonic()
        await self._registry.register()
        self._renewal(sent)
        if self._wakeups is not None:
            self._wakeups.subscribe(self._woken)
        self._owner.spawn(self._watch(), name="watchdog")
        await self._watched_round()
        self._owner.spawn(self._loop(), name="leases")

    def _woken(self, payload: str) -> None:
        if payload in ("", LEASES):
            self.wake()

    def wake(self) -> None:
        """Run a round now (a node stopped or handed connections over)."""
        self._wake.set()

    async def close(self) -> None:
        """Stop renewing; the caller closes the sessions, then :meth:`hand_over`."""
        await self._owner.cancel_all()
        await self._owner.close(timeout=1.0)

    async def hand_over(self) -> None:
        """Graceful stop, after the sessions are closed: give every lease up, leave the
        list and wake the other nodes so they claim them now."""
        try:
            await self._registry.deregister()
        except Exception:
            log.exception("could not hand the connections over; they move after the lease")
            return
        if self._wakeups is not None:
            await self._wakeups.notify(LEASES)

    # ------------------------------------------------------------ rounds

    async def _loop(self) -> None:
        while True:
            await self._sleep_or_wake(self.interval)
            await self._watched_round()

    async def _watched_round(self) -> None:
        """One round as a task of its own, which the watchdog cancels when the deadline
        passes: a round that outlived it claims, adopts and writes nothing more."""
        task = self._owner.spawn(self._logged_round(), name="round")
        self._round = task
        try:
            await asyncio.wait({task})
        finally:
            self._round = None

    async def _logged_round(self) -> None:
        try:
            await self.round()
        except Exception:
            log.exception("lease round failed")

    async def _watch(self) -> None:
        """The renewal deadline, kept whatever the round is doing.

        The round checks the deadline only when it starts; one whose later queries block
        (a lock held elsewhere, a partition TCP has not noticed) could outlive the lease
        with every session still open. This task makes no query, so nothing can hold it
        up: half a lease after the last renewal that got through, it abandons the round
        in flight and closes every session here; then it waits for the next renewal."""
        while True:
            assert self._last_renewal is not None
            left = self._last_renewal + self.deadline - self._clock.monotonic()
            if left > 0:
                await self._clock.sleep(left)
                continue
            self._renewed.clear()
            # Cut off already or not: a round stuck after its renewal (giving the old
            # leases up, say) is abandoned, and what runs here meanwhile (a connection
            # created through this node) is closed.
            if self._round is not None:
                log.warning("the lease round outlived the renewal deadline; abandoned")
                self._round.cancel()
            try:
                await self._go_silent("no lease renewal within the renewal deadline")
            except Exception:
                # Keep watching: the next deadline is kept even if this close failed.
                log.exception("going silent failed")
            await self._renewed.wait()

    def _renewal(self, sent: float) -> None:
        self._last_renewal = sent
        self._renewed.set()

    async def _sleep_or_wake(self, seconds: float) -> None:
        waiter = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()
        self._wake.clear()

    async def round(self) -> None:
        started = self._clock.monotonic()
        if self._late(started):
            await self._go_silent("the lease renewal deadline passed")
        async with self._silencing:
            pass  # a silence in progress (the watchdog's) ends before anything is claimed
        started = self._clock.monotonic()  # the renewal's time: once the silence is over
        try:
            # Not ``wait_for``: on Python 3.11 it returns the result when the heartbeat
            # ends as the keeper is cancelled, losing the cancel; the loop then waited
            # for its next round and the node's shutdown hung in ``close``.
            async with asyncio.timeout(self.deadline):
                await self._registry.heartbeat()
        except Exception as exc:
            log.warning("heartbeat failed", extra={"error": type(exc).__name__})
            if self._late(self._clock.monotonic()):
                await self._go_silent("no heartbeat within the renewal deadline")
            return
        self._renewal(started)
        if self._cut_off:
            # Back after a cut-off: what still names this node was taken by nobody;
            # give it up so that it is claimed afresh (new epochs). Cleared only once
            # that went through: a failed register is tried again next round.
            await self._registry.register()
            self._cut_off = False
        await self._check_held()
        await self._balance()
        if self.rounds % PRUNE_EVERY == 0:
            await self._registry.prune()
        self.rounds += 1

    def _late(self, now: float) -> bool:
        return self._last_renewal is not None and now - self._last_renewal >= self.deadline

    async def _go_silent(self, reason: str) -> None:
        self._cut_off = True
        async with self._silencing:
            held = list(self._holder.held())
            if held:
                log.warning(
                    "closing every session here", extra={"reason": reason, "count": len(held)}
                )
                await self._holder.let_go(held)

    async def _check_held(self) -> None:
        # Before the read: a connection taken up while it runs (created here) is not
        # counted as lost.
        held = self._holder.held()
        async with self._db.read() as s:
            query = select(ConnectionRow.id, ConnectionRow.lease_epoch, ConnectionRow.updated_at)
            found = (await s.execute(query.where(ConnectionRow.node_id == self.node_id))).all()
        current = {cid: int(epoch) for cid, epoch, _ in found}
        lost = [cid for cid, epoch in held.items() if current.get(cid) != epoch]
        if lost:
            log.warning("leases lost to another node", extra={"count": len(lost)})
            await self._holder.let_go(lost)
        if held:
            written = {cid: at for cid, epoch, at in found if held.get(cid) == epoch}
            await self._holder.catch_up(written)
        await self._give_up_unrun(current)

    async def _give_up_unrun(self, named: dict[str, int]) -> None:
        """Give up the rows that name this node while it runs nothing for them.

        They are left behind by a step that failed half way: a claim whose sessions did
        not start, a handover whose write failed after the sessions closed. Nobody else
        claims them while this node heartbeats, so they are let go here (``node_id``
        NULL, at the epoch seen) and claimed afresh with new epochs. Only a row seen so
        at two rounds in a row: one being taken up here right now (created through this
        node, adopted after its claim) is running by the next round."""
        # After the read: what started meanwhile counts, and so does what is being
        # deleted (its runner is gone, its row not yet).
        running = self._holder.held().keys() | self._holder.leaving()
        unrun = {cid: epoch for cid, epoch in named.items() if cid not in running}
        stale = {cid: epoch for cid, epoch in unrun.items() if self._unrun.get(cid) == epoch}
        self._unrun = {cid: epoch for cid, epoch in unrun.items() if cid not in stale}
        if not stale:
            return
        async with self._db.write() as s:
            for cid, epoch in stale.items():
                await s.execute(
                    update(ConnectionRow)
                    .where(
                        ConnectionRow.id == cid,
                        ConnectionRow.node_id == self.node_id,
                        ConnectionRow.lease_epoch == epoch,
                    )
                    .values(node_id=None)
                )
        log.warning("gave up connections named here but not run", extra={"count": len(stale)})
        if self._wakeups is not None:
            await self._wakeups.notify(LEASES)

    async def _balance(self) -> None:
        async with self._db.read() as s:
            total = int(await s.scalar(select(func.count()).select_from(ConnectionRow)) or 0)
            live = (
                await s.execute(
                    select(NodeRow.id, NodeRow.capacity).where(
                        NodeRow.heartbeat_at > func.now() - self._lease, ~NodeRow.stopping
                    )
                )
            ).all()
        nodes = {str(node): int(capacity) for node, capacity in live}
        nodes[self.node_id] = self._capacity
        share = fair_shares(total, nodes)[self.node_id]
        held = self._holder.held()
        if len(held) < share:
            claims = await self._claim(share - len(held))
            if claims:
                log.info("claimed connections", extra={"count": len(claims)})
                await self._holder.adopt(claims)
        elif len(held) > share and len(nodes) > 1:
            await self._hand_over_surplus(min(len(held) - share, HANDOVER_PER_ROUND), held)

    async def _claim(self, wanted: int) -> list[Claim]:
        owner = NodeRow.__table__.alias("owner")
        c = ConnectionRow.__table__
        claimable = (
            select(c.c.id)
            .select_from(c.outerjoin(owner, owner.c.id == c.c.node_id))
            .where(
                or_(
                    c.c.node_id.is_(None),
                    owner.c.id.is_(None),
                    owner.c.stopping,
                    owner.c.heartbeat_at <= func.now() - self._lease,
                )
            )
            # Sessions that were running first: they are the ones people wait for.
            .order_by(c.c.linked.desc(), c.c.id)
            .limit(wanted)
            .with_for_update(of=c, skip_locked=True)
        )
        async with self._db.write() as s:
            ids = list((await s.scalars(claimable)).all())
            if not ids:
                return []
            rows = await s.execute(
                update(ConnectionRow)
                .where(ConnectionRow.id.in_(ids))
                .values(node_id=self.node_id, lease_epoch=ConnectionRow.lease_epoch + 1)
                .returning(ConnectionRow.id, ConnectionRow.lease_epoch)
            )
            claims = [Claim(cid, int(epoch)) for cid, epoch in rows.all()]
            await self._holder.claimed(s, claims)
            return claims

    async def _hand_over_surplus(self, count: int, held: dict[str, int]) -> None:
        chosen = self._holder.movable()[:count]
        if not chosen:
            return
        await self._holder.let_go(chosen)
        async with self._db.write() as s:
            for cid in chosen:
                await s.execute(
                    update(ConnectionRow)
                    .where(
                        and_(
                            ConnectionRow.id == cid,
                            ConnectionRow.node_id == self.node_id,
                            ConnectionRow.lease_epoch == held[cid],
                        )
                    )
                    .values(node_id=None)
                )
        log.info("handed connections over", extra={"count": len(chosen)})
        if self._wakeups is not None:
            await self._wakeups.notify(LEASES)
