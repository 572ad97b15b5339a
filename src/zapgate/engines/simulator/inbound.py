"""What a customer's phone sends: turning a control call into the events WhatsApp emits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from zapgate.domain.errors import Invalid
from zapgate.domain.messages import ContactCard, Location, MessageType
from zapgate.domain.phones import USER_SERVER, is_group_jid, normalize_phone, user_jid
from zapgate.domain.polls import Poll
from zapgate.engines.events import (
    ContactInfo,
    EngineEvent,
    GroupInfo,
    GroupParticipant,
    InboundMessage,
    MediaRef,
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    Reaction,
)
from zapgate.engines.simulator.network import Network
from zapgate.engines.simulator.qr import group_jid_for, lid_for, phone_message_id
from zapgate.engines.simulator.state import Group, LinkedAccount


@dataclass(frozen=True, slots=True)
class SimMedia:
    """Media a customer sends: the bytes stay with the simulator until downloaded."""

    data: bytes
    mimetype: str
    filename: str | None = None


@dataclass(frozen=True, slots=True)
class Incoming:
    """Everything a customer's message can carry (see ``SimulatorEngine.incoming``)."""

    from_phone: str
    type: MessageType | str | None = None
    text: str | None = None
    caption: str | None = None
    push_name: str | None = None
    media: SimMedia | None = None
    group: str | None = None
    group_name: str | None = None
    quoted_id: str | None = None
    location: Location | None = None
    contact: ContactCard | None = None
    reaction: Reaction | None = None
    wa_message_id: str | None = None
    mentions: tuple[str, ...] = ()
    """Phones the text mentions."""
    message_id: str | None = None
    """For ``edit`` and ``revoke``: the WhatsApp id of the customer's own message."""
    poll: Poll | None = None
    as_lid: bool = False
    """Addressed by the customer's LID (chat and sender ``…@lid``)."""
    with_phone: bool = True
    """With ``as_lid``: the phone comes beside the LID (whatsmeow's ``SenderAlt``)."""


CHANGES = ("edit", "revoke")
"""Incoming ``type`` values that change an earlier message instead of sending one."""


def media_type_for(mimetype: str) -> MessageType:
    """What WhatsApp would show a file as; Opus audio is how phones record voice notes."""
    major, _, minor = mimetype.lower().partition("/")
    if major == "image":
        return MessageType.STICKER if minor == "webp" else MessageType.IMAGE
    if major == "video":
        return MessageType.VIDEO
    if major == "audio":
        return MessageType.VOICE if minor.startswith("ogg") else MessageType.AUDIO
    return MessageType.DOCUMENT


def _message_type(spec: Incoming) -> MessageType:
    if spec.type is None or spec.type == "":
        if spec.media is not None:
            return media_type_for(spec.media.mimetype)
        for kind, value in (
            (MessageType.LOCATION, spec.location),
            (MessageType.CONTACT, spec.contact),
            (MessageType.REACTION, spec.reaction),
            (MessageType.POLL, spec.poll),
        ):
            if value is not None:
                return kind
        return MessageType.TEXT
    try:
        return MessageType(spec.type)
    except ValueError:
        raise Invalid(f"unknown message type {spec.type!r}", code="invalid_type") from None


def _check_payload(kind: MessageType, spec: Incoming) -> None:
    missing = {
        MessageType.TEXT: spec.text is None or not spec.text.strip(),
        MessageType.LOCATION: spec.location is None,
        MessageType.CONTACT: spec.contact is None,
        MessageType.REACTION: spec.reaction is None,
        MessageType.POLL: spec.poll is None,
    }.get(kind, kind.has_media and spec.media is None)
    if missing:
        raise Invalid(f"a {kind.value} message needs its content", code="missing_content")


def group_info(session_id: str, group: Group) -> GroupInfo:
    """The group as a member sees it; its creator, while still an admin, is its super admin."""
    participants = tuple(
        GroupParticipant(
            jid=user_jid(phone),
            phone=phone,
            lid=lid_for(phone),
            is_admin=group.is_admin(phone),
            is_super_admin=i == 0 and group.is_admin(phone),
        )
        for i, phone in enumerate(group.participants)
    )
    return GroupInfo(session_id, group.jid, group.name, participants, group.topic)


def _chat_of(spec: Incoming, sender: str) -> str:
    if spec.group is None:
        return sender
    chat = spec.group if "@" in spec.group else group_jid_for(spec.group)
    if not is_group_jid(chat):
        raise Invalid(f"{spec.group!r} is not a group JID", code="invalid_jid")
    return chat


def build_change(
    session_id: str, account: LinkedAccount, spec: Incoming, now: datetime
) -> tuple[list[EngineEvent], str]:
    """A customer edits (``type`` ``edit``, new ``text``) or deletes for everyone
    (``revoke``) a message of theirs; the id is the changed message's. The phone does not
    check the id: WhatsApp relays whatever id the sender's phone names, and the receiving
    side ignores a change to a message it does not have (or that another person sent)."""
    phone = normalize_phone(spec.from_phone)
    if phone == account.phone:
        raise Invalid("a connection cannot message itself", code="invalid_sender")
    if not spec.message_id:
        raise Invalid(f"an {spec.type} needs message_id", code="missing_content")
    sender = lid_for(phone) if spec.as_lid else f"{phone}@{USER_SERVER}"
    chat = _chat_of(spec, sender)
    if spec.type == "edit":
        if spec.text is None or not spec.text.strip():
            raise Invalid("an edit needs its new text", code="missing_content")
        edited = MessageEdited(session_id, chat, spec.message_id, spec.text, now, sender_jid=sender)
        return [edited], spec.message_id
    return [MessageRevoked(session_id, chat, spec.message_id, now, sender_jid=sender)], (
        spec.message_id
    )


def build_incoming(
    network: Network, session_id: str, account: LinkedAccount, spec: Incoming, now: datetime
) -> tuple[list[EngineEvent], str]:
    """The events one customer message causes, in order, and its message id."""
    phone = normalize_phone(spec.from_phone)
    if phone == account.phone:
        raise Invalid("a connection cannot message itself", code="invalid_sender")
    kind = _message_type(spec)
    _check_payload(kind, spec)
    lid = lid_for(phone)
    # ``phone`` is normalized already. Addressed by LID, the phone is there only when
    # WhatsApp gives it alongside.
    sender = lid if spec.as_lid else f"{phone}@{USER_SERVER}"
    known_phone = phone if not spec.as_lid or spec.with_phone else None
    events: list[EngineEvent] = []

    if network.contact_changed(session_id, phone, spec.push_name):
        events.append(ContactInfo(session_id, sender, known_phone, lid, spec.push_name))

    chat = _chat_of(spec, sender)
    if spec.group is not None:
        name = spec.group_name or (spec.group if "@" not in spec.group else None)
        group, changed = network.upsert_group(chat, name, [phone, account.phone])
        if changed:
            events.append(group_info(session_id, group))

    media: MediaRef | None = None
    if spec.media is not None and kind.has_media:
        key, sha256 = network.put_media(spec.media.data)
        media = MediaRef(
            mimetype=spec.media.mimetype,
            size=len(spec.media.data),
            filename=spec.media.filename,
            sha256=sha256,
            handle={"simulator": key},
        )

    wa_message_id = spec.wa_message_id or phone_message_id()
    message = InboundMessage(
        wa_message_id=wa_message_id,
        chat_jid=chat,
        sender_jid=sender,
        timestamp=now,
        type=kind,
        sender_lid=lid,
        sender_phone=known_phone,
        push_name=spec.push_name,
        is_group=chat != sender,
        text=spec.text if kind is MessageType.TEXT else None,
        caption=(spec.caption or spec.text) if kind.has_media else None,
        media=media,
        location=spec.location if kind is MessageType.LOCATION else None,
        contact=spec.contact if kind is MessageType.CONTACT else None,
        reaction=spec.reaction if kind is MessageType.REACTION else None,
        quoted_id=spec.quoted_id,
        mentions=tuple(user_jid(normalize_phone(p)) for p in spec.mentions),
        poll=spec.poll if kind is MessageType.POLL else None,
    )
    if message.poll is not None:
        network.remember_poll(session_id, wa_message_id, chat, message.poll)
    events.append(MessageReceived(session_id, message))
    return events, wa_message_id
