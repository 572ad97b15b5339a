"""Event destinations (webhooks and exports), their deliveries and delivery attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from zapgate.domain.deliveries import DeliveryStatus
from zapgate.store.tables.base import ID, Base
from zapgate.store.types import BigIntPK, JSONType

IS_PENDING = text(f"status = '{DeliveryStatus.PENDING.value}'")
"""The ordered webhook claim index's condition: deliveries still to send."""


class WebhookRow(Base):
    __tablename__ = "webhooks"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ID, ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSONType, default=list)
    connection_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("connections.id", ondelete="CASCADE")
    )
    secret: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    ordered: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """One delivery in flight at a time, in event id order (migration 0006)."""
    format: Mapped[str] = mapped_column(String(16), default="zapgate", server_default="zapgate")
    """The request body: zapgate's envelope or another product's (migration 0010)."""
    options: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    """Settings of the body ``format`` (e.g. Evolution's byEvents and instance name)."""
    description: Mapped[str | None] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(16), default="http", server_default="http")
    """How events reach the destination: ``http`` (a webhook: signed POST) or an event
    export to a broker, ``rabbitmq`` or ``nats`` (migration 0007). One table for every
    destination, so fan-out, claims, outcomes, retries and retention are one code path."""
    exchange: Mapped[str | None] = mapped_column(String(255))
    """rabbitmq: the exchange published to."""
    stream: Mapped[str | None] = mapped_column(String(255))
    """nats: the JetStream stream, created when missing."""
    subject_prefix: Mapped[str | None] = mapped_column(String(100))
    """Exports: first token of every routing key / subject."""
    failure_streak: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WebhookDeliveryRow(Base):
    __tablename__ = "webhook_deliveries"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    webhook_id: Mapped[str] = mapped_column(ID, ForeignKey("webhooks.id", ondelete="CASCADE"))
    organization_id: Mapped[str] = mapped_column(ID)
    event_id: Mapped[int] = mapped_column(BigIntPK)
    event_type: Mapped[str] = mapped_column(String(40))
    connection_id: Mapped[str | None] = mapped_column(ID)
    """The event's connection (migration 0007): an export's routing key names it."""
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_duration_ms: Mapped[int | None] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_hook_event"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        # One endpoint's due rows, without walking other endpoints' backlogs (0002).
        Index("ix_webhook_deliveries_hook_due", "webhook_id", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_hook", "webhook_id", "id"),
        # An ordered webhook's next delivery: its pending row with the lowest event id,
        # one index entry away however long the delivered history (0005).
        Index(
            "ix_webhook_deliveries_hook_pending",
            "webhook_id",
            "event_id",
            sqlite_where=IS_PENDING,
            postgresql_where=IS_PENDING,
        ),
    )


class WebhookAttemptRow(Base):
    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(
        ID, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    response_excerpt: Mapped[str | None] = mapped_column(Text)
