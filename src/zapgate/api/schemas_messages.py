"""API schemas for messages, media, chats, contacts and templates."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StrictBool, model_validator

from zapgate.api.formats import EmailOrEmpty, Phone, PhoneOrEmpty, Recipient
from zapgate.api.schemas import Input, Name, Output
from zapgate.domain.chats import ChatStatus

MessageKind = Literal[
    "text",
    "image",
    "video",
    "audio",
    "voice",
    "document",
    "location",
    "contact",
    "reaction",
    "sticker",
    "poll",
]
ShortText = Annotated[str, Field(max_length=200)]
Mentions = Annotated[list[Phone], Field(min_length=1, max_length=1024)]


class MediaIn(Input):
    media_id: Annotated[str, Field(max_length=64)] | None = None
    url: Annotated[str, Field(max_length=2000)] | None = None
    base64: str | None = None
    filename: Annotated[str, Field(max_length=300)] | None = None
    mimetype: Annotated[str, Field(max_length=200)] | None = None
    caption: Annotated[str, Field(max_length=4096)] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> MediaIn:
        given = [v for v in (self.media_id, self.url, self.base64) if v]
        if len(given) != 1:
            raise ValueError("give exactly one of media_id, url, base64")
        return self


class LocationIn(Input):
    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]
    name: ShortText | None = None
    address: Annotated[str, Field(max_length=500)] | None = None


class ContactCardIn(Input):
    name: Name
    phone: PhoneOrEmpty | None = None
    vcard: Annotated[str, Field(max_length=10000)] | None = None


class ReactionIn(Input):
    message_id: Annotated[str, Field(min_length=1, max_length=128)]
    """The zapgate id or the WhatsApp id of the message reacted to (same chat)."""
    emoji: Annotated[str, Field(max_length=16)]
    """An empty string removes the reaction."""


class PollIn(Input):
    """Checked by the service (``domain/polls.py``): 2 to 12 different options, each of
    1 to 100 characters, a question of 1 to 255; the bounds here only cap the body."""

    question: Annotated[str, Field(max_length=4096)]
    options: Annotated[list[Annotated[str, Field(max_length=4096)]], Field(max_length=100)]
    multiple: StrictBool = False
    """True: a voter may pick several options."""


class MessageCreate(Input):
    connection_id: Annotated[str, Field(max_length=64)] | None = None
    to: Recipient
    type: MessageKind = "text"
    text: Annotated[str, Field(max_length=65536)] | None = None
    media: MediaIn | None = None
    location: LocationIn | None = None
    contact: ContactCardIn | None = None
    reaction: ReactionIn | None = None
    poll: PollIn | None = None
    reply_to: Annotated[str, Field(max_length=128)] | None = None
    send_at: datetime | None = None
    template_id: Annotated[str, Field(max_length=64)] | None = None
    variables: dict[str, str | int | float] | None = None
    mentions: (
        Annotated[list[Phone], Field(min_length=1, max_length=1024)] | Literal["all"] | None
    ) = None
    """Phones the text mentions, or ``"all"`` (every participant of a group chat)."""


class MessageEditIn(Input):
    text: Annotated[str, Field(max_length=65536)]
    """The new text; an empty one answers 422 ``missing_content``."""


class MessagePublic(Output):
    model_config = ConfigDict(extra="allow")

    id: str
    wa_message_id: str
    connection_id: str | None
    chat_id: str | None
    to: str | None
    type: str
    status: str
    ack: int
    created_at: datetime
    send_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    error_code: str | None
    error_message: str | None
    chat_jid: str | None = None
    """The chat's JID: in a 1:1 chat the customer's phone JID whenever the phone is known
    (also when WhatsApp addressed the message by LID), else their LID."""
    contact_phone: str | None = None
    """The customer's phone (E.164 digits), when known."""
    contact_jid: str | None = None
    """The customer's phone JID (``…@s.whatsapp.net``), when the phone is known."""
    contact_lid: str | None = None
    """The customer's LID (``…@lid``), when known."""
    edited_at: datetime | None = None
    revoked_at: datetime | None = None
    mentions: list[dict[str, Any]] | None = None
    edits: list[dict[str, Any]] | None = None


class MediaPublic(Output):
    id: str
    sha256: str
    mimetype: str
    filename: str | None
    size: int
    created_at: datetime


class ChatPublic(Output):
    model_config = ConfigDict(extra="allow")

    id: str
    connection_id: str | None
    contact_id: str | None
    jid: str
    """A group's JID; for a 1:1 chat the customer's phone JID whenever the phone is known,
    else their LID. A chat WhatsApp moves from phone to LID addressing stays this chat."""
    phone: str | None = None
    """The customer's phone (E.164 digits) when known; null for groups."""
    lid: str | None = None
    """The customer's LID (``…@lid``) when known; null for groups."""
    name: str | None
    is_group: bool
    status: str
    assignee_id: str | None
    unread_count: int
    last_message: dict[str, Any] | None
    last_message_at: datetime | None


class ChatUpdate(Input):
    status: Literal[ChatStatus.PENDING, ChatStatus.ACTIVE, ChatStatus.CLOSED] | None = None
    assignee_id: Annotated[str, Field(max_length=64)] | None = None


class PresenceIn(Input):
    presence: Literal["typing", "recording", "paused"]


class ContactPublic(Output):
    model_config = ConfigDict(extra="allow")

    id: str
    phone: str | None
    jid: str
    """The phone JID whenever the phone is known, else the LID."""
    lid: str | None
    name: str | None
    push_name: str | None
    email: str | None
    company: str | None
    tags: list[str]
    notes: str | None
    custom_fields: dict[str, Any]
    blocked: bool = False
    """Blocked through zapgate (``POST /contacts/{id}/block``)."""
    is_business: bool | None = None
    """A WhatsApp Business account; null until an engine said."""
    picture_url: str | None = None
    """Our URL of the cached profile picture; null before it was fetched or when the
    contact has none (``GET /contacts/{id}/picture`` fetches it)."""


class BlockOut(ContactPublic):
    connections: list[str]
    """The connections the block was applied on (every ready one)."""


class ContactUpdate(Input):
    name: ShortText | None = None
    phone: PhoneOrEmpty | None = None
    email: EmailOrEmpty | None = None
    company: ShortText | None = None
    tags: Annotated[list[str], Field(max_length=50)] | None = None
    notes: Annotated[str, Field(max_length=20000)] | None = None
    custom_fields: dict[str, Any] | None = None


class TemplateCreate(Input):
    name: Name
    body: Annotated[str, Field(min_length=1, max_length=65536)]


class TemplateUpdate(Input):
    name: Name | None = None
    body: Annotated[str, Field(min_length=1, max_length=65536)] | None = None


class TemplatePublic(Output):
    id: str
    name: str
    body: str
    variables: list[str]
    created_at: datetime
    updated_at: datetime


class CheckNumbersIn(Input):
    phones: Annotated[list[Phone], Field(min_length=1, max_length=100)]


class NumberCheckOut(Output):
    phone: str
    on_whatsapp: bool
    jid: str | None


class GroupPublic(Output):
    id: str
    connection_id: str
    jid: str
    name: str | None
    topic: str | None
    participants: list[dict[str, Any]]
    updated_at: datetime
