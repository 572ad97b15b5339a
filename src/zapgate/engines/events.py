"""The typed events an engine reports, and the inbound messages they carry.

Every engine reports everything that happens to its sessions as one of these, through
the :data:`EventSink` given to ``Engine.start``; the supervisor routes them to runners.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from zapgate.domain.groups import ParticipantAction
from zapgate.domain.messages import ChatPresence, ContactCard, Location, MessageType, ReceiptType
from zapgate.domain.polls import Poll
from zapgate.engines.group_types import GroupField

# ---------------------------------------------------------------- inbound messages


@dataclass(frozen=True, slots=True)
class MediaRef:
    """Incoming media as the engine describes it; ``handle`` is opaque to the rest."""

    mimetype: str
    size: int | None = None
    filename: str | None = None
    sha256: str | None = None
    handle: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reaction:
    target_id: str
    """WhatsApp id of the message reacted to."""
    emoji: str
    """Empty string removes a reaction."""
    target_from_me: bool = True
    target_sender_jid: str | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    wa_message_id: str
    chat_jid: str
    sender_jid: str
    timestamp: datetime
    type: MessageType
    from_me: bool = False
    sender_lid: str | None = None
    sender_phone: str | None = None
    push_name: str | None = None
    is_group: bool = False
    chat_phone: str | None = None
    """The other party's phone in a 1:1 chat WhatsApp addresses by LID, when it says it
    (neonize's ``RecipientAlt`` on our own messages; ``sender_phone`` on theirs)."""
    text: str | None = None
    caption: str | None = None
    media: MediaRef | None = None
    location: Location | None = None
    contact: ContactCard | None = None
    reaction: Reaction | None = None
    quoted_id: str | None = None
    mentions: tuple[str, ...] = ()
    """JIDs the text mentions (phone or LID JIDs, as WhatsApp sent them)."""
    poll: Poll | None = None


# ---------------------------------------------------------------- engine events


@dataclass(frozen=True, slots=True)
class QrIssued:
    session_id: str
    code: str
    expires_at: datetime
    index: int
    """1-based number of this code in the rotation."""
    total: int


@dataclass(frozen=True, slots=True)
class LinkTimedOut:
    """The last QR code (or the pairing code) expired without a scan."""

    session_id: str
    reason: str  # "qr_timeout" | "pairing_timeout"


@dataclass(frozen=True, slots=True)
class Paired:
    """The phone accepted the link; credentials are now stored by the engine."""

    session_id: str
    jid: str
    phone: str
    push_name: str | None = None
    lid: str | None = None
    platform: str | None = None


@dataclass(frozen=True, slots=True)
class Connected:
    """Logged in and able to send."""

    session_id: str
    jid: str
    phone: str
    push_name: str | None = None


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection dropped. ``retryable`` False means a retry cannot help."""

    session_id: str
    reason: str
    retryable: bool = True


@dataclass(frozen=True, slots=True)
class LoggedOut:
    """The device was unlinked; credentials are gone."""

    session_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class StreamReplaced:
    """Another client took over this session."""

    session_id: str


@dataclass(frozen=True, slots=True)
class TemporaryBan:
    session_id: str
    code: str
    expires_in: float
    """Seconds until WhatsApp lifts the ban."""


@dataclass(frozen=True, slots=True)
class ClientOutdated:
    session_id: str


@dataclass(frozen=True, slots=True)
class ConnectFailure:
    session_id: str
    reason: str
    code: int | None = None
    permanent: bool = False


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """Keep-alive lost (``ok`` False) or restored (``ok`` True)."""

    session_id: str
    ok: bool


@dataclass(frozen=True, slots=True)
class MessageReceived:
    session_id: str
    message: InboundMessage


@dataclass(frozen=True, slots=True)
class MessageEdited:
    """A message got a new text: the customer edited theirs (or we did, from another
    device: ``from_me``). ``wa_message_id`` is the edited message's id."""

    session_id: str
    chat_jid: str
    wa_message_id: str
    text: str
    timestamp: datetime
    sender_jid: str | None = None
    from_me: bool = False


@dataclass(frozen=True, slots=True)
class MessageRevoked:
    """A message was deleted for everyone by its sender (``from_me``: by us, elsewhere)."""

    session_id: str
    chat_jid: str
    wa_message_id: str
    timestamp: datetime
    sender_jid: str | None = None
    from_me: bool = False


@dataclass(frozen=True, slots=True)
class PollVoteReceived:
    """Someone voted on a poll (or changed or withdrew their vote: ``options`` empty).

    WhatsApp names the options by their SHA-256 (``option_hashes``, hex), and so do both
    engines; ``options`` (their text) serves an engine that knows it. The services
    match either against the stored poll."""

    session_id: str
    poll_id: str
    """WhatsApp id of the poll voted on."""
    chat_jid: str
    voter_jid: str
    timestamp: datetime
    options: tuple[str, ...] = ()
    option_hashes: tuple[str, ...] = ()
    voter_phone: str | None = None
    voter_lid: str | None = None
    push_name: str | None = None
    from_me: bool = False


@dataclass(frozen=True, slots=True)
class ReceiptReceived:
    session_id: str
    chat_jid: str
    message_ids: tuple[str, ...]
    type: ReceiptType
    timestamp: datetime
    sender_jid: str | None = None


@dataclass(frozen=True, slots=True)
class ContactInfo:
    session_id: str
    jid: str
    phone: str | None = None
    lid: str | None = None
    push_name: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class GroupParticipant:
    jid: str
    phone: str | None = None
    lid: str | None = None
    is_admin: bool = False
    is_super_admin: bool = False


@dataclass(frozen=True, slots=True)
class GroupInfo:
    session_id: str
    jid: str
    name: str
    participants: tuple[GroupParticipant, ...] = ()
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class GroupMember:
    """Who a group change is about, or who made it."""

    jid: str
    phone: str | None = None
    lid: str | None = None


@dataclass(frozen=True, slots=True)
class GroupChanged:
    """Another member changed the group's subject, description or picture."""

    session_id: str
    jid: str
    field: GroupField
    value: str | None
    """The new subject or description; for a picture an opaque marker, None when removed."""
    actor: GroupMember | None
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class GroupParticipantsChanged:
    """Members were added, removed (or left), promoted or demoted."""

    session_id: str
    jid: str
    action: ParticipantAction
    participants: tuple[GroupMember, ...]
    actor: GroupMember | None
    timestamp: datetime
    group: GroupInfo | None = None
    """The group's full description when the change comes with one (the number was
    added to a group it did not know): stored before the change is announced."""


@dataclass(frozen=True, slots=True)
class CallReceived:
    """Someone called this number; ``rejected`` when the engine refused the call
    (the connection rejects calls), otherwise it rang out unanswered by us."""

    session_id: str
    call_id: str
    caller_jid: str
    timestamp: datetime
    caller_phone: str | None = None
    caller_lid: str | None = None
    is_video: bool = False
    is_group: bool = False
    rejected: bool = False


@dataclass(frozen=True, slots=True)
class HistorySynced:
    session_id: str
    messages: tuple[InboundMessage, ...]


@dataclass(frozen=True, slots=True)
class PresenceUpdate:
    session_id: str
    jid: str
    available: bool
    last_seen: datetime | None = None


@dataclass(frozen=True, slots=True)
class ChatPresenceUpdate:
    """A contact started or stopped typing (or recording audio) in a chat; in a group
    chat ``sender_jid`` is the member."""

    session_id: str
    chat_jid: str
    sender_jid: str
    presence: ChatPresence
    sender_phone: str | None = None
    sender_lid: str | None = None


@dataclass(frozen=True, slots=True)
class EngineFault:
    """Something failed inside the engine without ending the session (logged, reported)."""

    session_id: str
    code: str
    message: str


EngineEvent = (
    QrIssued
    | LinkTimedOut
    | Paired
    | Connected
    | Disconnected
    | LoggedOut
    | StreamReplaced
    | TemporaryBan
    | ClientOutdated
    | ConnectFailure
    | KeepAlive
    | MessageReceived
    | MessageEdited
    | MessageRevoked
    | PollVoteReceived
    | ReceiptReceived
    | ContactInfo
    | GroupInfo
    | GroupChanged
    | GroupParticipantsChanged
    | CallReceived
    | HistorySynced
    | PresenceUpdate
    | ChatPresenceUpdate
    | EngineFault
)

EventSink = Callable[[EngineEvent], None]
"""Called by the engine, on the event loop, for every event. Must not block."""
