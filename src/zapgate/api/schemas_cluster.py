"""Bodies of ``/cluster``."""

from __future__ import annotations

from datetime import datetime

from zapgate.api.schemas import Output


class NodeOut(Output):
    id: str
    url: str | None
    version: str
    started_at: datetime
    heartbeat_at: datetime
    """The node's last heartbeat (database time)."""
    capacity: int
    """The most connections it runs (``ZAPGATE_MAX_CONNECTIONS``)."""
    stopping: bool
    alive: bool
    """Heartbeat younger than the lease, and not stopping."""
    connections: int
    """Connections whose lease it holds now."""


class ClusterOut(Output):
    clustered: bool
    node_id: str | None
    """The node that answered."""
    lease_seconds: float | None = None
    nodes: list[NodeOut]
