"""The cluster's nodes: one row per running server on a shared PostgreSQL (docs/cluster.md).

A node's heartbeat renews every connection lease it holds (``connections.node_id`` and
``lease_epoch``): a lease is valid while its node's ``heartbeat_at`` is younger than the
lease length. On SQLite no row is written (one node, no leases).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zapgate.store.tables.base import Base

NODE_ID = String(200)


class NodeRow(Base):
    __tablename__ = "nodes"
    id: Mapped[str] = mapped_column(NODE_ID, primary_key=True)
    url: Mapped[str | None] = mapped_column(Text)
    """How other nodes reach this one (``ZAPGATE_NODE_URL``), if set."""
    version: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    """Database time (``now()``) of the last renewal: nodes never compare their clocks."""
    capacity: Mapped[int] = mapped_column(Integer)
    stopping: Mapped[bool] = mapped_column(Boolean, default=False)
    """Set while the node hands its connections over (SIGTERM): others claim them now."""
