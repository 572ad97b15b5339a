"""API schemas for event exports (RabbitMQ, NATS JetStream)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StrictBool, field_validator

from zapgate.api.schemas import Input, Output
from zapgate.api.schemas_events import Description, Url
from zapgate.util.urls import masked

Kind = Literal["rabbitmq", "nats"]
Name = Annotated[str, Field(min_length=1, max_length=255)]
Prefix = Annotated[str, Field(min_length=1, max_length=100)]


class ExportCreate(Input):
    kind: Kind
    url: Url
    """``amqp(s)://user:password@host:port/vhost`` or ``nats://user:password@host:port``;
    stored, and never answered with its password."""
    exchange: Name | None = None
    """rabbitmq: the exchange to publish to (it must exist; a topic exchange lets
    consumers bind by pattern)."""
    stream: Name | None = None
    """nats: the JetStream stream, created (capturing ``<subject_prefix>.>``) when missing."""
    subject_prefix: Prefix | None = None
    """First token(s) of every routing key / subject; default ``zapgate``."""
    events: list[str] | None = None
    """Event types to publish; ``["*"]`` (the default) is every type."""
    connection_id: str | None = None
    """Only events of this connection (default: all connections)."""
    enabled: StrictBool = True
    description: Description | None = None


class ExportUpdate(Input):
    url: Url | None = None
    exchange: Name | None = None
    stream: Name | None = None
    subject_prefix: Prefix | None = None
    events: list[str] | None = None
    connection_id: str | None = None
    enabled: StrictBool | None = None
    description: Description | None = None


class ExportPublic(Output):
    id: str
    kind: Kind
    url: str
    """The broker URL with its password masked (``amqp://guest:***@host:5672/``)."""
    exchange: str | None
    stream: str | None
    subject_prefix: str
    events: list[str]
    connection_id: str | None
    enabled: bool
    description: str | None
    disabled_reason: str | None
    failure_streak: int
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime

    @field_validator("url", mode="after")
    @classmethod
    def _mask(cls, value: str) -> str:
        return masked(value)
