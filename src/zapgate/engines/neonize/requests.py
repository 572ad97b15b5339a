"""What a connected session is asked to do on WhatsApp: send, mark read, typing, number
checks, groups, media downloads. Each call runs in the worker's request thread and holds
the library gate (``gate.py``) only around the library call itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from zapgate.domain.errors import EngineError
from zapgate.domain.messages import ChatPresence, MessageType
from zapgate.engines import base
from zapgate.engines.events import GroupInfo, MediaRef
from zapgate.engines.neonize import changes, content, convert, outgoing, polls
from zapgate.engines.neonize.session import WorkerSession


def send(session: WorkerSession, msg: base.OutgoingMessage) -> base.SendResult:
    from neonize.utils.enum import MediaType

    client = session.ready_client()

    def upload(data: bytes, kind: int) -> Any:
        with session.gate.hold():
            return client.upload(data, MediaType(kind))

    if msg.type is MessageType.POLL:
        with session.gate.hold():
            message = polls.poll_message(client, msg)
    else:
        message = outgoing.build_message(msg, upload, max_media_bytes=session.max_media_bytes)
    with session.gate.hold():
        response = client.send_message(convert.make_jid(msg.to_jid), message)
    sent_at = (
        datetime.fromtimestamp(response.Timestamp, UTC) if response.Timestamp else datetime.now(UTC)
    )
    # neonize 0.5.2's SendMessage export takes no id (README.md, "Limits"): the id
    # WhatsApp got is whatsmeow's, returned here.
    return base.SendResult(wa_message_id=response.ID or msg.wa_message_id, timestamp=sent_at)


def edit(
    session: WorkerSession, chat_jid: str, wa_message_id: str, text: str, mentions: list[str]
) -> None:
    client = session.ready_client()
    message = changes.edit_message(chat_jid, wa_message_id, text, tuple(mentions))
    with session.gate.hold():
        client.send_message(convert.make_jid(chat_jid), message)


def revoke(session: WorkerSession, chat_jid: str, wa_message_id: str) -> None:
    client = session.ready_client()
    message = changes.revoke_message(chat_jid, wa_message_id)
    with session.gate.hold():
        client.send_message(convert.make_jid(chat_jid), message)


def mark_read(
    session: WorkerSession, chat_jid: str, message_ids: list[str], sender_jid: str | None
) -> None:
    from neonize.utils.enum import ReceiptType

    client = session.ready_client()
    with session.gate.hold():
        client.mark_read(
            *message_ids,
            chat=convert.make_jid(chat_jid),
            sender=convert.make_jid(sender_jid or chat_jid),
            receipt=ReceiptType.READ,
        )


def presence(session: WorkerSession, chat_jid: str, presence: ChatPresence) -> None:
    from neonize.utils.enum import ChatPresence, ChatPresenceMedia

    client = session.ready_client()
    state = (
        ChatPresence.CHAT_PRESENCE_PAUSED
        if presence is ChatPresence.PAUSED
        else ChatPresence.CHAT_PRESENCE_COMPOSING
    )
    media = (
        ChatPresenceMedia.CHAT_PRESENCE_MEDIA_AUDIO
        if presence is ChatPresence.RECORDING
        else ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT
    )
    with session.gate.hold():
        client.send_chat_presence(convert.make_jid(chat_jid), state, media)


def own_presence(session: WorkerSession, available: bool) -> None:
    from neonize.utils.enum import Presence

    client = session.ready_client()
    with session.gate.hold():
        client.send_presence(Presence.AVAILABLE if available else Presence.UNAVAILABLE)


def check_numbers(session: WorkerSession, phones: list[str]) -> list[base.NumberCheck]:
    client = session.ready_client()
    with session.gate.hold():
        answers = client.is_on_whatsapp(*[f"+{phone}" for phone in phones])
    by_digits = {"".join(ch for ch in a.Query if ch.isdigit()): a for a in answers}
    checks = []
    for phone in phones:
        answer = by_digits.get(phone)
        on = bool(answer is not None and answer.IsIn)
        jid = convert.jid_str(answer.JID) if on and answer is not None else None
        checks.append(base.NumberCheck(phone=phone, on_whatsapp=on, jid=jid or None))
    return checks


def groups(session: WorkerSession) -> list[GroupInfo]:
    client = session.ready_client()
    with session.gate.hold():
        groups = client.get_joined_groups()
    return [convert.group_info(session.session_id, group) for group in groups]


def download(session: WorkerSession, media: MediaRef) -> bytes:
    client = session.ready_client()
    if media.size is not None and media.size > session.max_media_bytes:
        raise EngineError(
            "media_too_large",
            f"{media.size} bytes exceeds the {session.max_media_bytes} limit",
            permanent=True,
        )
    message = content.media_message(media.handle)
    with session.gate.hold():
        data: bytes = client.download_any(message)
    if len(data) > session.max_media_bytes:
        raise EngineError("media_too_large", "downloaded media exceeds the limit", permanent=True)
    return data
