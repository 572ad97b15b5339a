"""Edits and deletes for everyone, both ways: the waE2E protobufs we send to edit or
revoke a message of ours, and the ``protocolMessage`` a customer's edit or delete
arrives as.

Built as neonize's ``build_edit`` and ``build_revoke`` build them (an edit is a
``MESSAGE_EDIT`` protocol message inside ``editedMessage``; a revoke a ``REVOKE`` one),
without the library call ``build_revoke`` makes to learn our own JID: a message we sent
is always ``fromMe``. Pure functions on the library's protobuf types.
"""

from __future__ import annotations

import time
from typing import Any

from zapgate.engines.events import MessageEdited, MessageRevoked
from zapgate.engines.neonize.content import unwrap

# waE2E ProtocolMessage.Type values
REVOKE = 0
MESSAGE_EDIT = 14


def text_message(text: str, mentions: tuple[str, ...], e2e: Any) -> Any:
    """A text ``Message``: plain, or with ``contextInfo.mentionedJID`` when it mentions."""
    if not mentions:
        return e2e.Message(conversation=text)
    context = e2e.ContextInfo(mentionedJID=list(mentions))
    return e2e.Message(extendedTextMessage=e2e.ExtendedTextMessage(text=text, contextInfo=context))


def edit_message(
    chat_jid: str, wa_message_id: str, text: str, mentions: tuple[str, ...] = ()
) -> Any:
    """What to send to replace the text of our message ``wa_message_id`` in ``chat_jid``."""
    from neonize.proto.waCommon.WACommon_pb2 import MessageKey
    from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

    protocol = e2e.ProtocolMessage(
        key=MessageKey(fromMe=True, ID=wa_message_id, remoteJID=chat_jid),
        type=MESSAGE_EDIT,
        editedMessage=text_message(text, mentions, e2e),
        timestampMS=int(time.time() * 1000),
    )
    return e2e.Message(
        editedMessage=e2e.FutureProofMessage(message=e2e.Message(protocolMessage=protocol))
    )


def revoke_message(chat_jid: str, wa_message_id: str) -> Any:
    """What to send to delete our message ``wa_message_id`` in ``chat_jid`` for everyone."""
    from neonize.proto.waCommon.WACommon_pb2 import MessageKey
    from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

    key = MessageKey(fromMe=True, ID=wa_message_id, remoteJID=chat_jid)
    return e2e.Message(protocolMessage=e2e.ProtocolMessage(type=REVOKE, key=key))


def _protocol(message: Any) -> Any | None:
    """The ``protocolMessage`` of a message, inside an ``editedMessage`` wrapper or not."""
    msg = unwrap(message)
    if msg.HasField("editedMessage"):
        msg = unwrap(msg.editedMessage.message)
    return msg.protocolMessage if msg.HasField("protocolMessage") else None


def new_text(edited: Any) -> str | None:
    """The text an edit puts in place (a text, or a caption)."""
    msg = unwrap(edited)
    if msg.conversation:
        return str(msg.conversation)
    if msg.HasField("extendedTextMessage"):
        return str(msg.extendedTextMessage.text)
    for field in ("imageMessage", "videoMessage", "documentMessage"):
        if msg.HasField(field) and getattr(msg, field).caption:
            return str(getattr(msg, field).caption)
    return None


def change_event(
    session_id: str,
    message: Any,
    *,
    chat_jid: str,
    sender_jid: str | None,
    from_me: bool,
    timestamp: Any,
) -> MessageEdited | MessageRevoked | None:
    """The edit or delete ``message`` carries; None when it is neither. ``timestamp`` is
    the event's (a ``datetime``); the edit's own ``timestampMS`` is not trusted over it."""
    protocol = _protocol(message)
    if protocol is None or not protocol.key.ID:
        return None
    target = protocol.key.ID
    mine = from_me or protocol.key.fromMe
    if protocol.type == REVOKE:
        return MessageRevoked(session_id, chat_jid, target, timestamp, sender_jid, mine)
    if protocol.type == MESSAGE_EDIT and protocol.HasField("editedMessage"):
        text = new_text(protocol.editedMessage)
        if text is None:
            return None
        return MessageEdited(session_id, chat_jid, target, text, timestamp, sender_jid, mine)
    return None
