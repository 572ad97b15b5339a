"""neonize protobuf events → zapgate engine events (inbound direction).

Everything here takes the library's protobuf objects, which carry no type hints; the
``Any`` stays in this module and what leaves it is typed (:mod:`zapgate.engines.base`).
Pure functions: no library calls, so they are tested on real protobufs without a network.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from zapgate.domain.messages import ChatPresence, ReceiptType
from zapgate.engines.events import (
    ChatPresenceUpdate,
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
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    Paired,
    PresenceUpdate,
    ReceiptReceived,
    TemporaryBan,
)
from zapgate.engines.neonize.changes import change_event
from zapgate.engines.neonize.content import content_fields

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


# ---------------------------------------------------------------- events


def message_event(
    session_id: str, ev: Any
) -> MessageReceived | MessageEdited | MessageRevoked | None:
    """A neonize ``Message`` event: a message, an edit or a delete for everyone of an
    earlier one; None when it carries nothing a chat shows."""
    info = ev.Info
    src = info.MessageSource
    fields = content_fields(ev.Message)
    if fields is None:
        return change_event(
            session_id,
            ev.Message,
            chat_jid=jid_str(src.Chat),
            sender_jid=jid_str(src.Sender) or None,
            from_me=src.IsFromMe,
            timestamp=timestamp_of(info.Timestamp),
        )
    phone, lid = phone_and_lid(src.Sender, src.SenderAlt)
    is_group = src.IsGroup or src.Chat.Server == GROUP_SERVER
    # Our own message in a chat WhatsApp addresses by LID names the customer's phone in
    # RecipientAlt (theirs name it in SenderAlt).
    chat_phone = None
    if src.IsFromMe and not is_group and src.Chat.Server == LID_SERVER:
        chat_phone, _ = phone_and_lid(src.RecipientAlt, None)
    inbound = InboundMessage(
        wa_message_id=info.ID,
        chat_jid=jid_str(src.Chat),
        sender_jid=jid_str(src.Sender),
        timestamp=timestamp_of(info.Timestamp),
        from_me=src.IsFromMe,
        sender_lid=lid,
        sender_phone=phone,
        push_name=info.Pushname or None,
        is_group=is_group,
        chat_phone=chat_phone,
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


_CHAT_STATE_PAUSED = 2
_CHAT_MEDIA_AUDIO = 2


def chat_presence_event(session_id: str, ev: Any) -> ChatPresenceUpdate:
    """whatsmeow's ``ChatPresence``: composing (text or audio) or paused, in a chat."""
    src = ev.MessageSource
    phone, lid = phone_and_lid(src.Sender, src.SenderAlt)
    if ev.State == _CHAT_STATE_PAUSED:
        presence = ChatPresence.PAUSED
    elif ev.Media == _CHAT_MEDIA_AUDIO:
        presence = ChatPresence.RECORDING
    else:
        presence = ChatPresence.TYPING
    return ChatPresenceUpdate(
        session_id=session_id,
        chat_jid=jid_str(src.Chat),
        sender_jid=jid_str(src.Sender),
        presence=presence,
        sender_phone=phone,
        sender_lid=lid,
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
