"""neonize protobuf events → zapgate engine events (inbound direction).

Everything here takes the library's protobuf objects, which carry no type hints; the
``Any`` stays in this module and what leaves it is typed (:mod:`zapgate.engines.base`).
Pure functions: no library calls, so they are tested on real protobufs without a network.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any

from zapgate.domain.errors import EngineError
from zapgate.domain.messages import ContactCard, Location, MessageType, ReceiptType
from zapgate.engines.events import (
    Connected,
    ConnectFailure,
    ContactInfo,
    EngineEvent,
    EngineFault,
    GroupInfo,
    GroupParticipant,
    HistorySynced,
    InboundMessage,
    LoggedOut,
    MediaRef,
    MessageReceived,
    Paired,
    PresenceUpdate,
    Reaction,
    ReceiptReceived,
    TemporaryBan,
)

USER_SERVER = "s.whatsapp.net"
LID_SERVER = "lid"
GROUP_SERVER = "g.us"

# Connect-failure reasons after which retrying with the same credentials cannot help
# (numbers from neonize's ConnectFailureReason enum).
_PERMANENT_FAILURES = {
    2: "logged_out",
    4: "main_device_gone",
    5: "unknown_logout",
    6: "client_outdated",
    7: "bad_user_agent",
}
_FAILURE_NAMES = {
    1: "generic",
    3: "temp_banned",
    8: "internal_server_error",
    9: "experimental",
    10: "service_unavailable",
    **_PERMANENT_FAILURES,
}
_BAN_NAMES = {
    1: "sent_to_too_many_people",
    2: "blocked_by_users",
    3: "created_too_many_groups",
    4: "sent_too_many_same_message",
    5: "broadcast_list",
}
# neonize Receipt.ReceiptType → ours; SENDER/READ_SELF/RETRY/... concern our own devices.
_RECEIPTS = {1: ReceiptType.DELIVERED, 4: ReceiptType.READ, 6: ReceiptType.PLAYED}
_WAID = re.compile(r"waid=(\d+)")


# ---------------------------------------------------------------- identities


def jid_str(jid: Any, *, keep_device: bool = False) -> str:
    """``user@server`` (``user:device@server`` with ``keep_device``); '' when empty."""
    if jid is None or (not jid.User and not jid.Server):
        return ""
    user = jid.User
    if keep_device and jid.Device:
        user = f"{user}:{jid.Device}"
    return f"{user}@{jid.Server}"


def parse_jid(value: str) -> tuple[str, str, int]:
    """Split ``user[.agent][:device]@server`` into (user, server, device)."""
    user, _, server = value.partition("@")
    user, _, device = user.partition(":")
    user = user.split(".", 1)[0]
    return user, server or USER_SERVER, int(device) if device.isdigit() else 0


def make_jid(value: str) -> Any:
    """A neonize ``JID`` protobuf for a JID string (device kept)."""
    from neonize.proto.Neonize_pb2 import JID

    user, server, device = parse_jid(value)
    return JID(User=user, Server=server, Device=device, RawAgent=0, Integrator=0, IsEmpty=False)


def phone_and_lid(primary: Any, alt: Any) -> tuple[str | None, str | None]:
    phone = lid = None
    for jid in (primary, alt):
        if jid is None or not jid.User:
            continue
        if jid.Server == LID_SERVER and lid is None:
            lid = jid_str(jid)
        elif jid.Server == USER_SERVER and phone is None:
            phone = jid.User
    return phone, lid


def timestamp_of(raw: int) -> datetime:
    # neonize encodes MessageInfo.Timestamp in milliseconds, most others in seconds.
    seconds = raw / 1000 if raw > 100_000_000_000 else float(raw)
    return datetime.fromtimestamp(seconds, UTC)


# ---------------------------------------------------------------- message content


def unwrap(message: Any) -> Any:
    """The content inside ephemeral / view-once / document-with-caption wrappers."""
    for _ in range(5):
        for wrapper in (
            "ephemeralMessage",
            "viewOnceMessage",
            "viewOnceMessageV2",
            "viewOnceMessageV2Extension",
            "documentWithCaptionMessage",
        ):
            if message.HasField(wrapper):
                message = getattr(message, wrapper).message
                break
        else:
            return message
    return message


_MEDIA_FIELDS = (
    ("imageMessage", MessageType.IMAGE),
    ("videoMessage", MessageType.VIDEO),
    ("audioMessage", MessageType.AUDIO),
    ("documentMessage", MessageType.DOCUMENT),
    ("stickerMessage", MessageType.STICKER),
)


def media_handle(field: str, content: Any) -> dict[str, Any]:
    """What :func:`media_message` needs to rebuild a downloadable message."""
    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message

    wrapper = Message()
    getattr(wrapper, field).CopyFrom(content)
    wrapper_bytes = wrapper.SerializeToString()
    return {"field": field, "message": base64.b64encode(wrapper_bytes).decode()}


def media_message(handle: dict[str, Any]) -> Any:
    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message

    try:
        return Message.FromString(base64.b64decode(handle["message"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise EngineError(
            "invalid_media", f"media handle is unusable: {exc}", permanent=True
        ) from exc


def _media_ref(field: str, content: Any) -> MediaRef:
    return MediaRef(
        mimetype=content.mimetype or "application/octet-stream",
        size=int(content.fileLength) if content.HasField("fileLength") else None,
        filename=content.fileName if field == "documentMessage" and content.fileName else None,
        sha256=content.fileSHA256.hex() if content.fileSHA256 else None,
        handle=media_handle(field, content),
    )


def _quoted_id(content: Any) -> str | None:
    if content is None or not content.HasField("contextInfo"):
        return None
    return content.contextInfo.stanzaID or None


def content_fields(message: Any) -> dict[str, Any] | None:
    """Type, text and attachments of a waE2E ``Message``; None for non-chat content."""
    msg = unwrap(message)
    if msg.conversation:
        return {"type": MessageType.TEXT, "text": msg.conversation}
    if msg.HasField("extendedTextMessage"):
        ext = msg.extendedTextMessage
        return {"type": MessageType.TEXT, "text": ext.text, "quoted_id": _quoted_id(ext)}
    for field, mtype in _MEDIA_FIELDS:
        if msg.HasField(field):
            content = getattr(msg, field)
            if mtype is MessageType.AUDIO and content.PTT:
                mtype = MessageType.VOICE
            caption = getattr(content, "caption", "") if field != "audioMessage" else ""
            return {
                "type": mtype,
                "caption": caption or None,
                "media": _media_ref(field, content),
                "quoted_id": _quoted_id(content),
            }
    for field in ("locationMessage", "liveLocationMessage"):
        if msg.HasField(field):
            loc = getattr(msg, field)
            return {
                "type": MessageType.LOCATION,
                "quoted_id": _quoted_id(loc),
                "location": Location(
                    latitude=loc.degreesLatitude,
                    longitude=loc.degreesLongitude,
                    name=getattr(loc, "name", "") or None,
                    address=getattr(loc, "address", "") or None,
                ),
            }
    if msg.HasField("contactMessage"):
        return {
            "type": MessageType.CONTACT,
            "contact": _contact(msg.contactMessage),
            "quoted_id": _quoted_id(msg.contactMessage),
        }
    if msg.HasField("contactsArrayMessage") and msg.contactsArrayMessage.contacts:
        return {
            "type": MessageType.CONTACT,
            "contact": _contact(msg.contactsArrayMessage.contacts[0]),
        }
    if msg.HasField("reactionMessage"):
        reaction = msg.reactionMessage
        key = reaction.key
        return {
            "type": MessageType.REACTION,
            "reaction": Reaction(
                target_id=key.ID,
                emoji=reaction.text,
                target_from_me=key.fromMe,
                target_sender_jid=key.participant or None,
            ),
        }
    return None


def _contact(card: Any) -> ContactCard:
    match = _WAID.search(card.vcard or "")
    return ContactCard(
        name=card.displayName or "",
        phone=match.group(1) if match else None,
        vcard=card.vcard or None,
    )


# ---------------------------------------------------------------- events


def message_event(session_id: str, ev: Any) -> MessageReceived | None:
    """A neonize ``Message`` event; None when it carries nothing a chat shows."""
    fields = content_fields(ev.Message)
    if fields is None:
        return None
    info = ev.Info
    src = info.MessageSource
    phone, lid = phone_and_lid(src.Sender, src.SenderAlt)
    inbound = InboundMessage(
        wa_message_id=info.ID,
        chat_jid=jid_str(src.Chat),
        sender_jid=jid_str(src.Sender),
        timestamp=timestamp_of(info.Timestamp),
        from_me=src.IsFromMe,
        sender_lid=lid,
        sender_phone=phone,
        push_name=info.Pushname or None,
        is_group=src.IsGroup or src.Chat.Server == GROUP_SERVER,
        **fields,
    )
    return MessageReceived(session_id=session_id, message=inbound)


def receipt_event(session_id: str, ev: Any) -> ReceiptReceived | None:
    rtype = _RECEIPTS.get(ev.Type)
    if rtype is None or not ev.MessageIDs:
        return None
    src = ev.MessageSource
    return ReceiptReceived(
        session_id=session_id,
        chat_jid=jid_str(src.Chat),
        message_ids=tuple(ev.MessageIDs),
        type=rtype,
        timestamp=timestamp_of(ev.Timestamp),
        sender_jid=jid_str(src.Sender) or None,
    )


def paired_event(session_id: str, ev: Any) -> Paired | EngineFault:
    if ev.Status != 2:  # PairStatus.SUCCESS
        return EngineFault(
            session_id=session_id, code="pair_error", message=ev.Error or "pairing failed"
        )
    return Paired(
        session_id=session_id,
        jid=jid_str(ev.ID, keep_device=True),
        phone=ev.ID.User,
        push_name=ev.BusinessName or None,
        platform=ev.Platform or None,
    )


def connected_event(session_id: str, device: Any) -> Connected:
    """``Connected`` from the linked ``Device`` (neonize's ``get_me()``)."""
    return Connected(
        session_id=session_id,
        jid=jid_str(device.JID, keep_device=True),
        phone=device.JID.User,
        push_name=device.PushName or None,
    )


def logged_out_event(session_id: str, ev: Any) -> LoggedOut:
    reason = _FAILURE_NAMES.get(ev.Reason, "logged_out")
    where = "on connect" if ev.OnConnect else "while connected"
    return LoggedOut(session_id=session_id, reason=f"{reason} ({where})")


def temporary_ban_event(session_id: str, ev: Any) -> TemporaryBan:
    return TemporaryBan(
        session_id=session_id,
        code=_BAN_NAMES.get(ev.Code, str(ev.Code)),
        expires_in=float(ev.Expire),
    )


def connect_failure_event(session_id: str, ev: Any) -> ConnectFailure:
    name = _FAILURE_NAMES.get(ev.Reason, f"reason {ev.Reason}")
    reason = f"{name}: {ev.Message}" if ev.Message else name
    return ConnectFailure(
        session_id=session_id,
        reason=reason,
        code=int(ev.Reason),
        permanent=ev.Reason in _PERMANENT_FAILURES,
    )


def presence_event(session_id: str, ev: Any) -> PresenceUpdate:
    last_seen = timestamp_of(ev.LastSeen) if ev.LastSeen > 0 else None
    return PresenceUpdate(
        session_id=session_id,
        jid=jid_str(ev.From),
        available=not ev.Unavailable,
        last_seen=last_seen,
    )


def group_info(session_id: str, info: Any) -> GroupInfo:
    """A full neonize ``GroupInfo`` (from ``get_group_info``/``get_joined_groups``)."""
    participants = []
    for part in info.Participants:
        phone, lid = phone_and_lid(part.PhoneNumber, part.LID)
        if phone is None and part.JID.Server == USER_SERVER:
            phone = part.JID.User
        if lid is None and part.JID.Server == LID_SERVER:
            lid = jid_str(part.JID)
        participants.append(
            GroupParticipant(
                jid=jid_str(part.JID),
                phone=phone,
                lid=lid,
                is_admin=part.IsAdmin or part.IsSuperAdmin,
                is_super_admin=part.IsSuperAdmin,
            )
        )
    topic = info.GroupTopic.Topic if info.HasField("GroupTopic") else ""
    return GroupInfo(
        session_id=session_id,
        jid=jid_str(info.JID),
        name=info.GroupName.Name,
        participants=tuple(participants),
        topic=topic or None,
    )


def group_change_event(session_id: str, ev: Any) -> GroupInfo | None:
    """A ``GroupInfoEvent`` delta; only a rename is complete enough to report alone.

    The worker asks the library for the full group on every delta and uses this only
    when that fails.
    """
    if not ev.HasField("Name"):
        return None
    topic = ev.Topic.Topic if ev.HasField("Topic") else None
    return GroupInfo(
        session_id=session_id, jid=jid_str(ev.JID), name=ev.Name.Name, topic=topic or None
    )


def history_events(session_id: str, ev: Any) -> list[EngineEvent]:
    """Messages and push names from a history-sync blob."""
    data = ev.Data
    messages: list[InboundMessage] = []
    for conversation in data.conversations:
        chat = conversation.ID
        for item in conversation.messages:
            inbound = _web_message(chat, item.message)
            if inbound is not None:
                messages.append(inbound)
    out: list[EngineEvent] = []
    for pushname in data.pushnames:
        if pushname.ID and pushname.pushname:
            user, server, _ = parse_jid(pushname.ID)
            out.append(
                ContactInfo(
                    session_id=session_id,
                    jid=f"{user}@{server}",
                    phone=user if server == USER_SERVER else None,
                    lid=f"{user}@{server}" if server == LID_SERVER else None,
                    push_name=pushname.pushname,
                )
            )
    if messages:
        out.append(HistorySynced(session_id=session_id, messages=tuple(messages)))
    return out


def _web_message(chat: str, web: Any) -> InboundMessage | None:
    if not web.HasField("message"):
        return None
    fields = content_fields(web.message)
    if fields is None:
        return None
    key = web.key
    chat_jid = key.remoteJID or chat
    if key.fromMe:
        sender = ""
    elif key.participant:
        sender = key.participant
    else:
        sender = chat_jid
    user, server, _ = parse_jid(sender) if sender else ("", "", 0)
    return InboundMessage(
        wa_message_id=key.ID,
        chat_jid=chat_jid,
        sender_jid=f"{user}@{server}" if sender else "",
        timestamp=timestamp_of(int(web.messageTimestamp)),
        from_me=key.fromMe,
        sender_phone=user if server == USER_SERVER else None,
        sender_lid=f"{user}@{server}" if server == LID_SERVER else None,
        push_name=web.pushName or None,
        is_group=chat_jid.endswith("@" + GROUP_SERVER),
        **fields,
    )
