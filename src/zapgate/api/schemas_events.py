"""API schemas for events and webhooks (SPEC section 5)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool

from zapgate.api.formats import NextCursor
from zapgate.api.schemas import Input, Output
from zapgate.domain.deliveries import DeliveryStatus

Url = Annotated[str, Field(min_length=1, max_length=2000)]
Secret = Annotated[str, Field(max_length=200)]
Description = Annotated[str, Field(max_length=500)]
DeliveryStatusIn = Literal[DeliveryStatus.PENDING, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED]
"""A delivery log filter: every status, listed in place (OpenAPI shows an enum type as a
schema of its own)."""


class EventOut(Output):
    """The envelope: the same JSON as webhook bodies and live stream messages."""

    id: int
    type: str
    organization_id: str
    connection_id: str | None
    created_at: datetime
    data: dict[str, Any]


class EventPage(Output):
    items: list[EventOut]
    next_cursor: NextCursor
    last_id: int | None
    """The id of the last item: pass it as ``since`` next time (or use the cursor)."""


WebhookFormat = Literal["zapgate", "evolution"]


class WebhookCreate(Input):
    url: Url
    events: list[str] | None = None
    """Event types to deliver; ``["*"]`` (the default) is every type."""
    connection_id: str | None = None
    """Only events of this connection (default: all connections)."""
    secret: Secret | None = None
    """At least 16 characters; generated when omitted. Shown once, in this answer."""
    enabled: StrictBool = True
    ordered: StrictBool = False
    """One delivery in flight at a time, in event id order; a failing delivery holds
    back the later ones until it succeeds or is given up (slower: see docs/webhooks.md)."""
    description: Description | None = None
    format: WebhookFormat = "zapgate"
    """The request body: zapgate's envelope, or Evolution API's (docs/evolution.md)."""


class WebhookUpdate(Input):
    url: Url | None = None
    events: list[str] | None = None
    connection_id: str | None = None
    secret: Secret | None = None
    enabled: StrictBool | None = None
    ordered: StrictBool | None = None
    description: Description | None = None
    format: WebhookFormat | None = None


class WebhookPublic(Output):
    id: str
    url: str
    events: list[str]
    connection_id: str | None
    enabled: bool
    ordered: bool
    format: str
    description: str | None
    disabled_reason: str | None
    failure_streak: int
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str
    """Keep it: it is never shown again."""


class DeliveryPublic(Output):
    id: str
    webhook_id: str
    event_id: int
    event_type: str
    status: str
    """``pending`` (queued or retrying), ``delivered`` or ``failed`` (gave up)."""
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    last_duration_ms: int | None
    response_excerpt: str | None
    created_at: datetime
    delivered_at: datetime | None


class AttemptPublic(Output):
    attempted_at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None
    response_excerpt: str | None


class DeliveryDetailOut(DeliveryPublic):
    attempt_log: list[AttemptPublic]
