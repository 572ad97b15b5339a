"""Fencing of what a connection's runner receives, in a cluster (docs/cluster.md).

A node writes traffic it received for a connection only while the connection's row
names it with the lease epoch of the runner that received it, checked in the writing
transaction with the rows share-locked (a claim, ``FOR UPDATE SKIP LOCKED``, cannot
slip in before the commit). On one node there is nothing to check and no query.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.store.tables.connections import ConnectionRow

log = logging.getLogger(__name__)


class LeaseFence:
    def __init__(
        self, node_id: str | None = None, epoch_of: Callable[[str], int | None] | None = None
    ) -> None:
        """``epoch_of(connection_id)``: the lease epoch of the runner here, or None."""
        self.node_id = node_id
        self._epoch_of = epoch_of
        self.dropped = 0
        """Received items not written: their lease was lost."""

    def epoch(self, connection_id: str) -> int | None:
        """The epoch to fence a write of traffic received now (None on one node)."""
        return self._epoch_of(connection_id) if self._epoch_of is not None else None

    async def held(self, s: AsyncSession, connection_ids: set[str]) -> dict[str, int]:
        """Connection -> lease epoch, for those of ``connection_ids`` this node holds;
        their rows stay share-locked until ``s`` commits. Cluster only."""
        rows = await s.execute(
            select(ConnectionRow.id, ConnectionRow.node_id, ConnectionRow.lease_epoch)
            .where(ConnectionRow.id.in_(sorted(connection_ids)))
            .with_for_update(read=True)
        )
        return {cid: epoch for cid, node, epoch in rows.all() if node == self.node_id}

    async def holds(self, s: AsyncSession, connection_id: str, epoch: int | None) -> bool:
        """Whether traffic received at ``epoch`` may be written in ``s`` (always on one
        node)."""
        if self.node_id is None:
            return True
        held = await self.held(s, {connection_id})
        if epoch is not None and held.get(connection_id) == epoch:
            return True
        self.dropped += 1
        log.warning(
            "traffic of a connection another node now runs was not written",
            extra={"connection_id": connection_id},
        )
        return False
