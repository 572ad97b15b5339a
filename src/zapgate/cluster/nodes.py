"""Node identity, registration and heartbeat; the list ``GET /api/v1/cluster`` shows.

Every time is the database's (``now()``): nodes never compare their own clocks, so a
node whose clock drifts still sees the same leases as the others.
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert

from zapgate.store.db import Database
from zapgate.store.tables.cluster import NodeRow
from zapgate.store.tables.connections import ConnectionRow


def default_node_id() -> str:
    """The hostname plus a short random suffix: two containers cloned from one image, or
    a restart that overlaps its predecessor, never share an id."""
    return f"{socket.gethostname()}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class NodeIdentity:
    id: str
    url: str | None
    version: str
    capacity: int
    lease: timedelta
    """How long a lease lives after its node's last heartbeat."""


@dataclass(frozen=True)
class NodeInfo:
    id: str
    url: str | None
    version: str
    started_at: datetime
    heartbeat_at: datetime
    capacity: int
    stopping: bool
    alive: bool
    connections: int


class NodeRegistry:
    """This node's row: registered at start, renewed by every heartbeat, deleted at stop."""

    def __init__(self, db: Database, identity: NodeIdentity) -> None:
        self._db = db
        self.identity = identity

    async def register(self) -> None:
        """Insert (or take back, after a restart under a fixed id) this node's row; the
        leases a previous run under this id left behind are given up."""
        me = self.identity
        now = func.now()
        values: dict[str, Any] = {
            "id": me.id,
            "url": me.url,
            "version": me.version,
            "started_at": now,
            "heartbeat_at": now,
            "capacity": me.capacity,
            "stopping": False,
        }
        stmt = insert(NodeRow).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[NodeRow.id], set_={k: v for k, v in values.items() if k != "id"}
        )
        async with self._db.write() as s:
            await s.execute(stmt)
            await s.execute(
                update(ConnectionRow).where(ConnectionRow.node_id == me.id).values(node_id=None)
            )

    async def heartbeat(self) -> None:
        """Renew this node's leases (all of them: one row). Raises when the database
        cannot be reached; a row deleted meanwhile (pruned as dead) is registered again."""
        async with self._db.write() as s:
            found = await s.scalar(
                update(NodeRow)
                .where(NodeRow.id == self.identity.id)
                .values(heartbeat_at=func.now())
                .returning(NodeRow.id)
            )
        if found is None:
            await self.register()

    async def prune(self) -> int:
        """Forget nodes dead for ten leases that hold nothing (killed, never back)."""
        holds = select(ConnectionRow.id).where(ConnectionRow.node_id == NodeRow.id).exists()
        async with self._db.write() as s:
            result = await s.execute(
                delete(NodeRow).where(
                    NodeRow.heartbeat_at < func.now() - self.identity.lease * 10, ~holds
                )
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def deregister(self) -> None:
        """Give every lease up and leave the list (a graceful stop)."""
        async with self._db.write() as s:
            await s.execute(
                update(ConnectionRow)
                .where(ConnectionRow.node_id == self.identity.id)
                .values(node_id=None)
            )
            await s.execute(delete(NodeRow).where(NodeRow.id == self.identity.id))


async def list_nodes(db: Database, lease: timedelta) -> list[NodeInfo]:
    """Every registered node with the connections it owns; dead ones (no heartbeat for a
    lease) are listed as such until a live node prunes them."""
    owned = (
        select(func.count())
        .select_from(ConnectionRow)
        .where(ConnectionRow.node_id == NodeRow.id)
        .scalar_subquery()
    )
    alive = NodeRow.heartbeat_at > func.now() - lease
    async with db.read() as s:
        rows = (await s.execute(select(NodeRow, owned, alive).order_by(NodeRow.id))).all()
    return [
        NodeInfo(
            id=node.id,
            url=node.url,
            version=node.version,
            started_at=node.started_at,
            heartbeat_at=node.heartbeat_at,
            capacity=node.capacity,
            stopping=node.stopping,
            alive=bool(is_alive) and not node.stopping,
            connections=int(count),
        )
        for node, count, is_alive in rows
    ]
