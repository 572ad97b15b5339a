"""Public event types (SPEC section 5) and the envelope published to clients."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from zapgate.domain.times import iso_utc


class EventType(StrEnum):
    CONNECTION_CREATED = "connection.created"
    CONNECTION_UPDATED = "connection.updated"
    CONNECTION_DELETED = "connection.deleted"
    CONNECTION_STATUS = "connection.status"
    CONNECTION_QR = "connection.qr"
    CONNECTION_PAIRING_CODE = "connection.pairing_code"
    MESSAGE_RECEIVED = "message.received"
    MESSAGE_SENT = "message.sent"
    MESSAGE_STATUS = "message.status"
    MESSAGE_FAILED = "message.failed"
    MESSAGE_EDITED = "message.edited"
    MESSAGE_REVOKED = "message.revoked"
    MESSAGE_POLL_VOTE = "message.poll_vote"
    CHAT_UPDATED = "chat.updated"
    CONTACT_UPDATED = "contact.updated"
    GROUP_UPDATED = "group.updated"
    GROUP_PARTICIPANTS = "group.participants"
    CALL_RECEIVED = "call.received"
    PRESENCE_UPDATED = "presence.updated"
    WEBHOOK_DISABLED = "webhook.disabled"
    WEBHOOK_TEST = "webhook.test"
    """Sent on request to one webhook only (its id in ``data.webhook_id``), whatever it
    subscribes to: "send a test event" in the panel, ``POST /webhooks/{id}/test``."""


ALL_EVENT_TYPES = frozenset(t.value for t in EventType)


@dataclass(frozen=True, slots=True)
class Event:
    """One persisted event; ``id`` strictly increases in commit order."""

    id: int
    type: str
    organization_id: str
    connection_id: str | None
    created_at: datetime
    data: dict[str, Any] = field(default_factory=dict)

    def envelope(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "organization_id": self.organization_id,
            "connection_id": self.connection_id,
            "created_at": iso_utc(self.created_at),
            "data": self.data,
        }
