"""The Engine protocol and what is handed to it (the events it emits: ``events.py``).

An engine speaks WhatsApp for many sessions (one session per connection). It never
touches the database: it receives what it needs in :class:`SessionSpec` and reports
everything that happens as an :data:`EngineEvent` through the sink given to
:meth:`Engine.start`. The supervisor in ``sessions/`` hands each to its connection's
runner: lifecycle events become state changes, and traffic goes to the runner's
listeners, which store messages and append public events (``services/inbound/``). The
simulator and the neonize engine both implement this protocol, and the rest of the
system cannot tell them apart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from zapgate.domain.behaviour import Behaviour
from zapgate.domain.groups import ParticipantAction
from zapgate.domain.messages import ChatPresence, ContactCard, Location, MessageType
from zapgate.domain.polls import Poll
from zapgate.engines.events import EventSink, GroupInfo, MediaRef, Reaction
from zapgate.engines.group_types import GroupInvite, GroupUpdate, ParticipantResult
from zapgate.engines.profile_types import ContactProfile, ProfileUpdate


def new_wa_message_id() -> str:
    """A WhatsApp-style message id (``3EB0`` + 18 upper-case hex digits).

    zapgate picks the id before the first send attempt and reuses it on every retry,
    so the recipient's device de-duplicates a message that was sent twice.
    """
    return "3EB0" + os.urandom(9).hex().upper()


# ---------------------------------------------------------------- session input


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """What an engine needs to open a session; decided from zapgate's own records."""

    session_id: str
    organization_id: str
    resume: bool
    """True when a device is linked and its credentials should be used."""
    jid: str | None = None
    """The linked device's JID when resuming (never guessed: unknown JIDs crash neonize)."""
    push_name: str | None = None
    behaviour: Behaviour = field(default_factory=Behaviour)
    """Calls, presence, history and proxy; changed later by ``configure_session``."""


# ---------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class OutgoingMedia:
    data: bytes
    mimetype: str
    filename: str | None = None
    caption: str | None = None


@dataclass(frozen=True, slots=True)
class QuotedMessage:
    wa_message_id: str
    sender_jid: str | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    wa_message_id: str
    to_jid: str
    type: MessageType
    text: str | None = None
    media: OutgoingMedia | None = None
    location: Location | None = None
    contact: ContactCard | None = None
    reaction: Reaction | None = None
    reply_to: QuotedMessage | None = None
    mentions: tuple[str, ...] = ()
    """JIDs mentioned in the text (WhatsApp notifies them; ``@<number>`` in the text
    is where their name shows)."""
    poll: Poll | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    wa_message_id: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class NumberCheck:
    phone: str
    on_whatsapp: bool
    jid: str | None = None


@dataclass(frozen=True, slots=True)
class PairingCode:
    code: str
    """``ABCD-EFGH``."""
    expires_at: datetime


# ---------------------------------------------------------------- the protocol


@runtime_checkable
class Engine(Protocol):
    name: str
    chooses_message_ids: bool
    """True when ``send`` uses ``OutgoingMessage.wa_message_id`` as the WhatsApp id, so a
    resend after a crash is de-duplicated by the recipient. neonize 0.5.2 cannot (see
    ``engines/neonize/README.md``): the outbox then never resends a message whose first
    attempt may have reached WhatsApp."""

    async def start(self, sink: EventSink) -> None:
        """Start the engine; every later event goes to ``sink``."""

    async def close(self) -> None:
        """Stop every session (credentials kept) and release resources."""

    async def open_session(self, spec: SessionSpec) -> None:
        """Begin linking (QR codes follow) or resume a linked device (``Connected`` follows).

        Returns once the session is started; opening a running session is an error.
        """

    async def request_pairing_code(self, session_id: str, phone: str) -> PairingCode:
        """Link by pairing code for ``phone`` on a session that is waiting to be linked."""

    async def close_session(self, session_id: str) -> None:
        """Stop the session and keep its credentials. Never fails for an unknown session."""

    async def configure_session(self, session_id: str, behaviour: Behaviour) -> None:
        """Apply changed settings to a running session (calls, presence); the proxy and
        history settings wait for the next open. Never fails for an unknown session."""

    async def logout(self, session_id: str, *, jid: str | None = None) -> None:
        """Unlink the device and forget its credentials, running or not.

        ``jid``: the device's JID as last known; an engine whose stopped sessions'
        keys are found by it (neonize with its store in PostgreSQL) needs it then."""

    async def delete_session(self, session_id: str, *, jid: str | None = None) -> None:
        """Stop and forget everything kept for the session (``jid`` as for ``logout``)."""

    async def send(self, session_id: str, message: OutgoingMessage) -> SendResult:
        """Send one message with its pre-chosen id; raises :class:`EngineError`."""

    async def edit_message(
        self,
        session_id: str,
        chat_jid: str,
        wa_message_id: str,
        text: str,
        mentions: tuple[str, ...] = (),
    ) -> None:
        """Replace the text of a message this session sent; raises :class:`EngineError`.
        The caller checks WhatsApp's time limit (``domain/messages.EDIT_WINDOW``)."""

    async def revoke_message(self, session_id: str, chat_jid: str, wa_message_id: str) -> None:
        """Delete a message this session sent for everyone; raises :class:`EngineError`."""

    async def mark_read(
        self, session_id: str, chat_jid: str, message_ids: list[str], sender_jid: str | None
    ) -> None: ...

    async def send_presence(
        self, session_id: str, chat_jid: str, presence: ChatPresence
    ) -> None: ...

    async def set_presence(self, session_id: str, available: bool) -> None:
        """Show the number online (``available``) or offline to its contacts, now."""

    async def check_numbers(self, session_id: str, phones: list[str]) -> list[NumberCheck]: ...

    async def get_groups(self, session_id: str) -> list[GroupInfo]: ...

    async def download_media(self, session_id: str, media: MediaRef) -> bytes: ...

    # Group operations raise EngineError with the codes ``group_not_found`` (we are not
    # a member), ``not_group_admin`` and ``invite_invalid``; changes made through them
    # are not reported back as events (the caller knows), changes by others are.

    async def create_group(self, session_id: str, subject: str, phones: list[str]) -> GroupInfo:
        """A new group with us as its super admin and ``phones`` as members."""

    async def group_info(self, session_id: str, jid: str) -> GroupInfo: ...

    async def update_group(self, session_id: str, jid: str, update: GroupUpdate) -> None: ...

    async def update_participants(
        self, session_id: str, jid: str, action: ParticipantAction, phones: list[str]
    ) -> list[ParticipantResult]: ...

    async def group_invite(self, session_id: str, jid: str, revoke: bool = False) -> GroupInvite:
        """The group's invite link; ``revoke`` replaces it (the old code stops working)."""

    async def join_group(self, session_id: str, code: str) -> GroupInfo: ...

    async def leave_group(self, session_id: str, jid: str) -> None: ...

    # Profiles raise EngineError ``not_connected`` like the rest; a picture the contact
    # does not have (or hides) is ``ContactProfile.picture`` None, not an error.

    async def contact_profile(self, session_id: str, jid: str) -> ContactProfile:
        """The contact's profile picture (its bytes, fetched from WhatsApp's servers by
        the engine: no WhatsApp URL leaves it) and whether it is a business account."""

    async def set_blocked(self, session_id: str, jid: str, blocked: bool) -> None:
        """Block or unblock ``jid`` on the connection's account (its blocklist)."""

    async def update_profile(self, session_id: str, update: ProfileUpdate) -> None:
        """Change the connection's own name, "about" text and picture."""

    async def ping(self, session_id: str) -> bool:
        """True when the session is really connected (the health check asks this)."""

    def problem(self) -> str | None:
        """Why the engine cannot serve sessions right now (``/readyz`` shows it), else None."""
