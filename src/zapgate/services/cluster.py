"""The cluster as the API shows it (``GET /api/v1/cluster``): superadmins only."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from zapgate.cluster.wakeups import CREDENTIALS
from zapgate.services.authentication import Authenticator
from zapgate.services.context import Principal

if TYPE_CHECKING:
    from zapgate.cluster.node import ClusterNode


def share_credential_changes(accounts: Authenticator, node: ClusterNode | None) -> None:
    """In a cluster, a revoked key, a removed member, a changed role or password is
    forgotten by every node at once, not after ``ZAPGATE_AUTH_CACHE_SECONDS``: the node
    that made the change notifies the others, which clear their credential caches (and
    recheck their open streams). A lost notification (the listening connection dropped)
    is answered the same way when it reconnects; the cache's age bounds the rest."""
    if node is None:
        return
    wakeups = node.wakeups
    accounts.announce_changes(lambda: wakeups.announce(CREDENTIALS))

    def told(payload: str) -> None:
        if payload in (CREDENTIALS, ""):  # "": reconnected, notifications were lost
            accounts.forget_credentials(announce=False)

    wakeups.subscribe(told)


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
