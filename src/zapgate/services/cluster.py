"""The cluster as the API shows it (``GET /api/v1/cluster``): superadmins only."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from zapgate.services.context import Principal

if TYPE_CHECKING:
    from zapgate.cluster.node import ClusterNode


class ClusterService:
    def __init__(self, node: ClusterNode | None) -> None:
        self._node = node

    @property
    def node_id(self) -> str | None:
        """This node's id in a cluster; None on a single node."""
        return self._node.id if self._node is not None else None

    async def overview(self, principal: Principal) -> dict[str, Any]:
        principal.require_superadmin()
        if self._node is None:
            return {"clustered": False, "node_id": None, "nodes": []}
        nodes = await self._node.nodes()
        return {
            "clustered": True,
            "node_id": self._node.id,
            "lease_seconds": self._node.identity.lease.total_seconds(),
            "nodes": [asdict(n) for n in nodes],
        }
