"""The persisted, ordered event log (``events/log.py`` writes and reads it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from zapgate.store.tables.base import ID, Base
from zapgate.store.types import BigIntPK, UTCDateTime


class EventRow(Base):
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(ID)
    connection_id: Mapped[str | None] = mapped_column(ID)
    type: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)

    __table_args__ = (Index("ix_events_org_id", "organization_id", "id"),)
