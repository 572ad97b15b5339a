"""Message vocabulary: types, statuses, the numeric ``ack``, content and presence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class MessageStatus(StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"
    FAILED = "failed"
    CANCELED = "canceled"
    RECEIVED = "received"

    @property
    def ack(self) -> int:
        return _ACK.get(self, 0)

    @property
    def is_final(self) -> bool:
        return self in (MessageStatus.FAILED, MessageStatus.CANCELED)

    def advances_to(self, other: MessageStatus) -> bool:
        """Receipts only move a sent message forward: never from read back to delivered."""
        if self not in _PROGRESS or other not in _PROGRESS:
            return False
        return _PROGRESS[other] > _PROGRESS[self]


class MessageType(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    VOICE = "voice"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACT = "contact"
    REACTION = "reaction"
    POLL = "poll"
    """A question with options; votes arrive later and are tallied on the poll."""
    CALL = "call"
    """A call to this number, missed or rejected: stored in its chat, never sent."""

    @property
    def has_media(self) -> bool:
        return self in _MEDIA_TYPES


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class ReceiptType(StrEnum):
    SERVER = "sent"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"

    @property
    def status(self) -> MessageStatus:
        return MessageStatus(self.value)


_MEDIA_TYPES = frozenset(
    {
        MessageType.IMAGE,
        MessageType.VIDEO,
        MessageType.AUDIO,
        MessageType.VOICE,
        MessageType.DOCUMENT,
        MessageType.STICKER,
    }
)

_ACK = {
    MessageStatus.FAILED: 0,
    MessageStatus.SCHEDULED: 1,
    MessageStatus.QUEUED: 1,
    MessageStatus.SENDING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.READ: 4,
    MessageStatus.PLAYED: 5,
}

_PROGRESS = {
    MessageStatus.SENDING: 0,
    MessageStatus.SENT: 1,
    MessageStatus.DELIVERED: 2,
    MessageStatus.READ: 3,
    MessageStatus.PLAYED: 4,
}

SENT_STATUSES: tuple[str, ...] = tuple(
    s.value
    for s in (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ, MessageStatus.PLAYED)
)
"""WhatsApp took the message: what the dashboard, a connection's counts and the metrics
call sent (queued, failed and canceled ones are not)."""


EDIT_WINDOW = timedelta(minutes=15)
"""How long after sending WhatsApp lets the sender edit a text (its apps say 15 minutes;
whatsmeow's ``EditWindow`` allows 20, a grace for clock skew we do not lean on)."""

REVOKE_WINDOW = timedelta(hours=48)
"""How long after sending a message can be deleted for everyone. WhatsApp's help says
"about two days" (its apps stretch to 2 days 12 hours, which receiving apps of older
versions may refuse); zapgate keeps to the two days every app honours."""


# Message content and chat signals shared by engines, services and the API.


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class ContactCard:
    name: str
    phone: str | None = None
    vcard: str | None = None


class ChatPresence(StrEnum):
    TYPING = "typing"
    RECORDING = "recording"
    PAUSED = "paused"
