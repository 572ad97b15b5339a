"""One node of a cluster: its registry row, its wake-ups and its lease keeper, together.

The runtime builds it when ``settings.clustered`` and hands it the supervisor as the
lease holder. Start and stop are split so the runtime can order them around the
supervisor: wake-ups before the supervisor starts, leases after (claims resume
sessions); at a graceful stop, leases stop renewing, the supervisor closes every
session, and only then are the leases given up (no two nodes ever run one session).
"""

from __future__ import annotations

from datetime import timedelta

from zapgate import __version__
from zapgate.cluster.leases import Holder, LeaseKeeper
from zapgate.cluster.nodes import NodeIdentity, NodeInfo, NodeRegistry, default_node_id, list_nodes
from zapgate.cluster.wakeups import WakeUps
from zapgate.store.db import Database
from zapgate.util.clock import Clock


def idle_limit(lease_seconds: float) -> float:
    """Seconds a node's transaction may wait between statements before PostgreSQL ends
    it (``Database(idle_in_transaction=...)``): a third of a lease, 2 s at least. A
    node paused inside a transaction holds its locks no longer, among them the event
    log's, which every node's event-writing commits wait for; a healthy node's
    transactions wait between statements only for its event loop."""
    return max(lease_seconds / 3, 2.0)


def lease_database(db: Database, lease: timedelta) -> Database:
    """The lease keeper's own connections to ``db``'s database, outside its pool.

    Requests under load can exhaust the shared pool; the heartbeat must not queue behind
    them. Two connections: the round uses one at a time, the other covers a round the
    watchdog abandoned while its connection is still being given back. Every statement,
    the wait for a connection and connecting are bounded by the renewal deadline (half a
    lease), so a stuck round fails and the next retries instead of hanging (after a
    silence nothing else ends it: the watchdog abandons only a round that is late). Not
    shorter: a heartbeat slower than that is useless anyway (the watchdog has silenced
    the node by then), and a shorter bound would fail slow heartbeats that still renew
    in time, silencing a node under load that is otherwise healthy. A round's
    transaction paused as long (the process stopped) is ended by the server, so the
    connections it locked can be claimed by the others.

    Wired like ``db``: a claim writes the claimed connections' states and their
    ``connection.status`` events, which must get their deliveries and wake the other
    nodes as any other write's do."""
    return Database(
        db.url,
        pool_size=2,
        max_overflow=0,
        query_timeout=lease.total_seconds() / 2,
        idle_in_transaction=lease.total_seconds() / 2,
        wired_like=db,
    )


def node_identity(
    node_id: str | None, url: str | None, capacity: int, lease_seconds: float
) -> NodeIdentity:
    return NodeIdentity(
        id=node_id or default_node_id(),
        url=url,
        version=__version__,
        capacity=capacity,
        lease=timedelta(seconds=lease_seconds),
    )


class ClusterNode:
    def __init__(self, db: Database, clock: Clock, identity: NodeIdentity) -> None:
        self.db = db
        self.identity = identity
        self.lease_db = lease_database(db, identity.lease)
        self.registry = NodeRegistry(self.lease_db, identity)
        self.wakeups = WakeUps(db.url, clock)
        self._clock = clock
        self.keeper: LeaseKeeper | None = None

    @property
    def id(self) -> str:
        return self.identity.id

    async def start_listening(self) -> None:
        await self.wakeups.start()

    async def start_leases(self, holder: Holder) -> None:
        self.keeper = LeaseKeeper(self.lease_db, self._clock, self.registry, holder, self.wakeups)
        await self.keeper.start()

    async def stop_leases(self) -> None:
        if self.keeper is not None:
            await self.keeper.close()

    async def hand_over(self) -> None:
        if self.keeper is not None:
            await self.keeper.hand_over()

    async def close(self) -> None:
        """Close the lease keeper's connections (after :meth:`hand_over`)."""
        await self.lease_db.close()

    async def nodes(self) -> list[NodeInfo]:
        return await list_nodes(self.db, self.identity.lease)
