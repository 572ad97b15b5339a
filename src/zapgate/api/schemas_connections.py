"""API schemas for connections and the simulator control API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, field_validator

from zapgate.api.formats import Phone
from zapgate.api.schemas import Input, Name, Output
from zapgate.domain.behaviour import SyncHistory, mask_proxy_url
from zapgate.domain.states import ConnectionState


class ConnectionCreate(Input):
    name: Name
    label: Annotated[str, Field(max_length=200)] | None = None
    is_primary: StrictBool = False


class ConnectionUpdate(Input):
    name: Name | None = None
    label: Annotated[str, Field(max_length=200)] | None = None
    is_primary: StrictBool | None = None
    rate_limit_per_minute: Annotated[int, Field(ge=1, le=600)] | None = None
    daily_cap: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    reject_calls: StrictBool | None = None
    reject_call_message: Annotated[str, Field(max_length=4096)] | None = None
    always_online: StrictBool | None = None
    auto_read: StrictBool | None = None
    ignore_groups: StrictBool | None = None
    ignore_status: StrictBool | None = None
    sync_history: SyncHistory | None = None
    proxy_url: Annotated[str, Field(max_length=2048)] | None = None
    """http://, https:// or socks5://, with credentials if the proxy wants them; null
    or empty removes it. Answered with the password masked."""


class ConnectionPublic(Output):
    id: str
    name: str
    label: str | None
    state: ConnectionState
    phone: str | None
    push_name: str | None
    is_primary: bool
    created_at: datetime
    connected_at: datetime | None
    disconnected_at: datetime | None
    last_seen_at: datetime | None
    error_code: str | None
    error_message: str | None
    attempt: int
    next_retry_at: datetime | None
    rate_limit_per_minute: int | None
    daily_cap: int | None
    reject_calls: bool
    reject_call_message: str | None
    always_online: bool
    auto_read: bool
    ignore_groups: bool
    ignore_status: bool
    sync_history: SyncHistory
    proxy_url: str | None
    profile_status: str | None = None
    """The "about" text set through zapgate (``PATCH /connections/{id}/profile``)."""
    profile_picture_media_id: str | None = None
    """The own profile picture set through zapgate (``GET /media/{id}``)."""
    node_id: str | None = None
    """In a cluster: the node running this connection now (null: none, or one node)."""

    @field_validator("proxy_url")
    @classmethod
    def _masked(cls, value: str | None) -> str | None:
        return mask_proxy_url(value)


class ProfileUpdateIn(Input):
    """The connection's own WhatsApp profile; only the fields given change."""

    name: Annotated[str, Field(min_length=1, max_length=25)] | None = None
    status: Annotated[str, Field(max_length=139)] | None = None
    """The "about" text; empty clears it."""
    picture_media_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    """An uploaded JPEG (``POST /media``)."""


class ConnectionStatus(Output):
    state: ConnectionState
    phone: str | None
    push_name: str | None
    connected_at: datetime | None
    last_seen_at: datetime | None
    error_code: str | None
    error_message: str | None
    attempt: int
    next_retry_at: datetime | None


class QrOut(Output):
    code: str
    image: str
    expires_at: datetime
    index: int
    total: int


class PairingCodeIn(Input):
    phone: Phone


class PairingCodeOut(Output):
    code: str
    expires_at: datetime


class ConnectionLogEntry(Output):
    id: int
    kind: str
    state: str | None
    message: str | None
    data: dict[str, Any]
    created_at: datetime


class ConnectionStats(Output):
    contacts: int
    groups: int
    chats: int
    messages_sent: int
    messages_received: int
    connected_since: datetime | None
    last_activity_at: datetime | None


# ---------------------------------------------------------------- simulator control


class FromWhatsApp(Input):
    """What a simulated phone or customer sends: WhatsApp's text, NUL characters and all.

    Removed where engine events enter (``engines/clean.py``), as real ones are.
    """

    keeps_nul = True


class SimScanIn(FromWhatsApp):
    phone: Phone
    push_name: Annotated[str, Field(max_length=200)] | None = None


class SimPairingIn(Input):
    code: Annotated[str, Field(min_length=8, max_length=9)]


class SimMediaIn(FromWhatsApp):
    base64: Annotated[str, Field(min_length=1)]
    mimetype: Annotated[str, Field(min_length=3, max_length=200)]
    filename: Annotated[str, Field(max_length=300)] | None = None


class SimLocationIn(FromWhatsApp):
    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]
    name: str | None = None


class SimContactIn(FromWhatsApp):
    name: Name
    phone: Phone | None = None


class SimPollIn(FromWhatsApp):
    question: Annotated[str, Field(max_length=4096)]
    options: Annotated[list[Annotated[str, Field(max_length=4096)]], Field(max_length=100)]
    multiple: StrictBool = False


class SimReactionIn(FromWhatsApp):
    message_id: Annotated[str, Field(min_length=1, max_length=128)]
    emoji: Annotated[str, Field(max_length=16)]


class SimIncomingIn(FromWhatsApp):
    from_: Annotated[Phone, Field(alias="from")]
    text: Annotated[str, Field(max_length=65536)] | None = None
    type: (
        Literal[
            "text",
            "image",
            "video",
            "audio",
            "voice",
            "document",
            "sticker",
            "location",
            "contact",
            "reaction",
            "edit",
            "revoke",
            "poll",
            "poll_vote",
        ]
        | None
    ) = None
    caption: str | None = None
    push_name: Annotated[str, Field(max_length=200)] | None = None
    media: SimMediaIn | None = None
    group: Annotated[str, Field(max_length=200)] | None = None
    group_name: Annotated[str, Field(max_length=200)] | None = None
    quoted_id: str | None = None
    location: SimLocationIn | None = None
    contact: SimContactIn | None = None
    reaction: SimReactionIn | None = None
    mentions: Annotated[list[Phone], Field(max_length=1024)] | None = None
    message_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    """For ``edit`` and ``revoke``: the WhatsApp id of the customer's earlier message."""
    poll: SimPollIn | None = None
    """A customer's poll (``type`` ``poll``)."""
    poll_message_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    """``type`` ``poll_vote``: the WhatsApp id of the poll voted on."""
    options: (
        Annotated[list[Annotated[str, Field(max_length=4096)]], Field(max_length=12)] | None
    ) = None
    """``type`` ``poll_vote``: the options picked (empty withdraws the vote)."""
    as_lid: StrictBool = False
    """Address the message by the customer's LID (``…@lid``), as WhatsApp does for chats
    it moved to LID addressing (an ``edit`` or ``revoke`` too); the LID is the
    simulator's stable one for ``from``."""
    with_phone: StrictBool = True
    """With ``as_lid``: whether WhatsApp gives the phone beside the LID (neonize's
    ``SenderAlt``); ``false`` sends the LID alone, as when the mapping is unknown."""


class SimIncomingOut(Output):
    wa_message_id: str


class SimReceiptIn(Input):
    wa_message_id: Annotated[str, Field(min_length=1, max_length=128)]
    type: Literal["delivered", "read", "played"]


class SimCallIn(Input):
    from_: Annotated[str, Field(alias="from", min_length=1, max_length=40)]
    is_video: StrictBool = False


class SimCallOut(Output):
    call_id: str
    rejected: bool


class SimPresenceIn(Input):
    from_: Annotated[str, Field(alias="from", min_length=1, max_length=40)]
    presence: Literal["available", "unavailable", "typing", "recording", "paused"]
    group: Annotated[str | None, Field(default=None, max_length=128, pattern=r"@g\.us$")]


class SimBanIn(Input):
    seconds: Annotated[float, Field(gt=0, le=30 * 86400)]


class SimSettingsIn(Input):
    """Only the settings given change; ``null`` puts a setting back to its default."""

    auto_receipts: StrictBool | None = None
    receipt_delay_ms: Annotated[int, Field(ge=0, le=3_600_000)] | None = None
    read_delay_ms: Annotated[int, Field(ge=0, le=3_600_000)] | None = None
    played_delay_ms: Annotated[int, Field(ge=0, le=3_600_000)] | None = None
    latency_ms: Annotated[int, Field(ge=0, le=3_600_000)] | None = None
    failure_rate: Annotated[float, Field(ge=0, le=1)] | None = None
    sync_delay_ms: Annotated[int, Field(ge=0, le=3_600_000)] | None = None
    dead_proxies: Annotated[list[str], Field(max_length=100)] | None = None
    """Proxy URLs that refuse every dial from now on (credentials ignored)."""


class SimNumberIn(Input):
    phone: Phone
    on_whatsapp: StrictBool | None


class SimContactProfileIn(Input):
    """A customer changes their WhatsApp profile (only what is given changes)."""

    phone: Phone
    picture: SimMediaIn | None = None
    """Their new picture; ``null`` removes it."""
    is_business: StrictBool | None = None
