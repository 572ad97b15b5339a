"""The items of an inbound batch, and what a batch reads for them up front."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zapgate.domain.phones import LID_SERVER, USER_SERVER
from zapgate.engines.events import (
    ContactInfo,
    GroupInfo,
    InboundMessage,
    PollVoteReceived,
    ReceiptReceived,
)
from zapgate.store.tables.messages import MediaRow


@dataclass(slots=True)
class ReceivedMessage:
    """A message with its media already downloaded (or the download's error code)."""

    message: InboundMessage
    media: MediaRow | None
    media_error: str | None
    history: bool


Work = ReceivedMessage | ReceiptReceived | ContactInfo | GroupInfo | PollVoteReceived


@dataclass(slots=True)
class Item:
    organization_id: str
    connection_id: str
    work: Work
    epoch: int | None = None
    """In a cluster: the lease epoch of the runner that received it (the write is fenced)."""


def wanted(items: list[Item]) -> dict[str, Any]:
    """What :meth:`BatchRecords.load` should read for these items."""
    parties: list[tuple[str, str, str | None]] = []
    chats: list[tuple[str, str]] = []
    messages: list[tuple[str, str]] = []
    for item in items:
        work = item.work
        if isinstance(work, ContactInfo):
            parties.append((item.organization_id, contact_jid(work), work.lid))
        if not isinstance(work, ReceivedMessage):
            continue
        msg = work.message
        party = party_jid(msg)
        if party is not None:
            parties.append((item.organization_id, party, party_lid(msg)))
        chats.append((item.connection_id, msg.chat_jid))
        if party is not None and not msg.is_group:
            # The same person's chat under their other address (``person_chat``).
            chats.append((item.connection_id, party))
            lid = party_lid(msg)
            if lid:
                chats.append((item.connection_id, lid))
        messages.append((item.connection_id, msg.wa_message_id))
    return {"parties": parties, "chats": chats, "messages": messages}


def contact_jid(work: ContactInfo) -> str:
    return f"{work.phone}@{USER_SERVER}" if work.phone else work.jid


def party_jid(msg: InboundMessage) -> str | None:
    """The customer this message is about: the sender, or in a 1:1 chat the chat."""
    if msg.is_group:
        if msg.from_me:
            return None
        return f"{msg.sender_phone}@{USER_SERVER}" if msg.sender_phone else msg.sender_jid
    if msg.from_me:
        return f"{msg.chat_phone}@{USER_SERVER}" if msg.chat_phone else msg.chat_jid
    return f"{msg.sender_phone}@{USER_SERVER}" if msg.sender_phone else msg.sender_jid


def party_lid(msg: InboundMessage) -> str | None:
    """The LID of :func:`party_jid`'s customer when the message names it."""
    if not msg.from_me:
        return msg.sender_lid
    if not msg.is_group and msg.chat_jid.endswith("@" + LID_SERVER):
        return msg.chat_jid
    return None
