"""WhatsApp connections (one linked number each) and their per-connection log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zapgate.store.tables.base import ID, Base
from zapgate.store.types import BigIntPK


class ConnectionRow(Base):
    __tablename__ = "connections"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ID, ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    label: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(32), index=True)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    linked: Mapped[bool] = mapped_column(Boolean, default=False)
    """The engine holds credentials for a linked device (resume without a new QR)."""
    jid: Mapped[str | None] = mapped_column(String(128))
    lid: Mapped[str | None] = mapped_column(String(128))
    phone: Mapped[str | None] = mapped_column(String(32))
    push_name: Mapped[str | None] = mapped_column(String(200))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    next_retry_at: Mapped[datetime | None]
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)
    daily_cap: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    connected_at: Mapped[datetime | None]
    disconnected_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime | None]
    token_hash: Mapped[str | None] = mapped_column(String(64), index=True, unique=True)
    """SHA-256 of the instance token (Evolution API compatibility, migration 0010)."""
    # Behaviour (domain/behaviour.py, migration 0011).
    reject_calls: Mapped[bool] = mapped_column(Boolean, default=False)
    reject_call_message: Mapped[str | None] = mapped_column(Text)
    always_online: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_read: Mapped[bool] = mapped_column(Boolean, default=False)
    ignore_groups: Mapped[bool] = mapped_column(Boolean, default=False)
    ignore_status: Mapped[bool] = mapped_column(Boolean, default=False)
    sync_history: Mapped[str] = mapped_column(String(16), default="recent")
    proxy_url: Mapped[str | None] = mapped_column(Text)
    """The proxy as shown: its password masked (migration 0014; rows saved before hold
    the whole URL until ``ConnectionService.seal_stored`` seals it at start)."""
    proxy_secret: Mapped[str | None] = mapped_column(Text)
    """The whole proxy URL sealed for this connection (``sessions/proxies.py``)."""
    profile_status: Mapped[str | None] = mapped_column(Text)
    """The "about" text set through zapgate (``PATCH /connections/{id}/profile``)."""
    profile_picture_media_id: Mapped[str | None] = mapped_column(ID)
    """The own profile picture set through zapgate (a file of ``media``)."""
    # Cluster ownership (docs/cluster.md, migration 0017): the node holding the lease and
    # its fencing epoch, bumped at every claim. Null on SQLite (one node owns everything).
    node_id: Mapped[str | None] = mapped_column(String(200), index=True)
    lease_epoch: Mapped[int] = mapped_column(Integer, default=0)


class ConnectionEventRow(Base):
    """The per-connection log shown in the panel (state changes, QR issued, errors)."""

    __tablename__ = "connection_events"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(ID, ForeignKey("connections.id", ondelete="CASCADE"))
    organization_id: Mapped[str] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_connection_events_conn_id", "connection_id", "id"),)
