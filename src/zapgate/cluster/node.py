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
        self.registry = NodeRegistry(db, identity)
        self.wakeups = WakeUps(db.url, clock)
        self._clock = clock
        self.keeper: LeaseKeeper | None = None

    @property
    def id(self) -> str:
        return self.identity.id

    async def start_listening(self) -> None:
        await self.wakeups.start()

    async def start_leases(self, holder: Holder) -> None:
        self.keeper = LeaseKeeper(self.db, self._clock, self.registry, holder, self.wakeups)
        await self.keeper.start()

    async def stop_leases(self) -> None:
        if self.keeper is not None:
            await self.keeper.close()

    async def hand_over(self) -> None:
        if self.keeper is not None:
            await self.keeper.hand_over()

    async def nodes(self) -> list[NodeInfo]:
        return await list_nodes(self.db, self.identity.lease)
