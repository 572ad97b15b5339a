"""neonize message protobufs → zapgate message content: the part of a ``Message`` that
says what was sent (text, media, place, contact card, reaction, quote).

Pure functions on the library's protobuf objects, like ``convert.py`` that uses them.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from zapgate.domain.errors import EngineError
from zapgate.domain.messages import ContactCard, Location, MessageType
from zapgate.domain.polls import Poll
from zapgate.engines.events import MediaRef, Reaction

_WAID = re.compile(r"waid=(\d+)")


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


# Every version of a poll's creation WhatsApp sends carries the same fields we read.
POLL_FIELDS = (
    "pollCreationMessage",
    "pollCreationMessageV2",
    "pollCreationMessageV3",
    "pollCreationMessageV5",
    "pollCreationMessageV6",
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


def _mentions(content: Any) -> tuple[str, ...]:
    if content is None or not content.HasField("contextInfo"):
        return ()
    return tuple(str(jid) for jid in content.contextInfo.mentionedJID if jid)


def content_fields(message: Any) -> dict[str, Any] | None:
    """Type, text and attachments of a waE2E ``Message``; None for non-chat content."""
    msg = unwrap(message)
    if msg.conversation:
        return {"type": MessageType.TEXT, "text": msg.conversation}
    if msg.HasField("extendedTextMessage"):
        ext = msg.extendedTextMessage
        return {
            "type": MessageType.TEXT,
            "text": ext.text,
            "quoted_id": _quoted_id(ext),
            "mentions": _mentions(ext),
        }
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
                "mentions": _mentions(content),
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
    for field in POLL_FIELDS:
        if msg.HasField(field):
            created = getattr(msg, field)
            return {
                "type": MessageType.POLL,
                "poll": Poll(
                    question=created.name,
                    options=tuple(option.optionName for option in created.options),
                    # 0 means "as many as wanted"; 1 a single choice.
                    multiple=created.selectableOptionsCount != 1,
                ),
                "quoted_id": _quoted_id(created),
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
