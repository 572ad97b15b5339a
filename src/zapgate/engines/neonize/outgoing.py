"""zapgate outgoing messages → waE2E ``Message`` protobufs (outbound direction).

We build the protobufs ourselves instead of calling neonize's ``build_*_message``
helpers: those accept a path *or a URL* and fetch URLs without a timeout, sniff types
with libmagic and shell out to ffmpeg. Here media is always bytes the gateway already
fetched and size-checked, uploaded through one library call (``upload``).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from typing import Any

from zapgate.domain.errors import EngineError
from zapgate.domain.messages import ContactCard, MessageType
from zapgate.engines import base
from zapgate.engines.neonize.convert import GROUP_SERVER, parse_jid

log = logging.getLogger(__name__)

Uploader = Callable[[bytes, int], Any]
"""``(data, neonize MediaType value) -> UploadResponse`` (one library call)."""

# neonize.utils.enum.MediaType values
_MEDIA_IMAGE, _MEDIA_VIDEO, _MEDIA_AUDIO, _MEDIA_DOCUMENT = 0, 1, 2, 3
_UPLOAD_KIND = {
    MessageType.IMAGE: _MEDIA_IMAGE,
    MessageType.STICKER: _MEDIA_IMAGE,
    MessageType.VIDEO: _MEDIA_VIDEO,
    MessageType.AUDIO: _MEDIA_AUDIO,
    MessageType.VOICE: _MEDIA_AUDIO,
    MessageType.DOCUMENT: _MEDIA_DOCUMENT,
}
_THUMBNAIL_PX = 200


def build_message(msg: base.OutgoingMessage, upload: Uploader, *, max_media_bytes: int) -> Any:
    """The protobuf to send for ``msg``; raises :class:`EngineError` on bad input."""
    from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

    context = reply_context(msg.reply_to, e2e, msg.mentions)
    mtype = msg.type
    if mtype is MessageType.TEXT:
        if not msg.text:
            raise EngineError("invalid_message", "text message without text", permanent=True)
        if context is None:
            return e2e.Message(conversation=msg.text)
        return e2e.Message(
            extendedTextMessage=e2e.ExtendedTextMessage(text=msg.text, contextInfo=context)
        )
    if mtype.has_media:
        return _media(msg, upload, context, e2e, max_media_bytes)
    if mtype is MessageType.LOCATION:
        if msg.location is None:
            raise EngineError("invalid_message", "location missing", permanent=True)
        loc = e2e.LocationMessage(
            degreesLatitude=msg.location.latitude,
            degreesLongitude=msg.location.longitude,
            name=msg.location.name,
            address=msg.location.address,
        )
        if context is not None:
            loc.contextInfo.CopyFrom(context)
        return e2e.Message(locationMessage=loc)
    if mtype is MessageType.CONTACT:
        if msg.contact is None:
            raise EngineError("invalid_message", "contact missing", permanent=True)
        card = e2e.ContactMessage(
            displayName=msg.contact.name, vcard=msg.contact.vcard or vcard(msg.contact)
        )
        if context is not None:
            card.contextInfo.CopyFrom(context)
        return e2e.Message(contactMessage=card)
    if mtype is MessageType.REACTION:
        return _reaction(msg, e2e)
    raise EngineError("unsupported_type", f"cannot send {mtype}", permanent=True)


def vcard(contact: ContactCard) -> str:
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{contact.name}"]
    if contact.phone:
        lines.append(f"TEL;type=CELL;waid={contact.phone}:+{contact.phone}")
    lines.append("END:VCARD")
    return "\n".join(lines)


def reply_context(
    quoted: base.QuotedMessage | None, e2e: Any, mentions: tuple[str, ...] = ()
) -> Any:
    if quoted is None:
        return e2e.ContextInfo(mentionedJID=list(mentions)) if mentions else None
    context = e2e.ContextInfo(stanzaID=quoted.wa_message_id, mentionedJID=list(mentions))
    if quoted.sender_jid:
        user, server, _ = parse_jid(quoted.sender_jid)
        context.participant = f"{user}@{server}"
    # WhatsApp shows the quoted bubble from quotedMessage; without the original's
    # content we quote its text (or an empty text, which still links the reply).
    context.quotedMessage.CopyFrom(e2e.Message(conversation=quoted.text or ""))
    return context


def _reaction(msg: base.OutgoingMessage, e2e: Any) -> Any:
    from neonize.proto.waCommon.WACommon_pb2 import MessageKey

    reaction = msg.reaction
    if reaction is None:
        raise EngineError("invalid_message", "reaction missing", permanent=True)
    key = MessageKey(remoteJID=msg.to_jid, fromMe=reaction.target_from_me, ID=reaction.target_id)
    if msg.to_jid.endswith("@" + GROUP_SERVER) and not reaction.target_from_me:
        if not reaction.target_sender_jid:
            raise EngineError(
                "invalid_message",
                "reacting to someone else's group message needs its sender",
                permanent=True,
            )
        key.participant = reaction.target_sender_jid
    return e2e.Message(
        reactionMessage=e2e.ReactionMessage(
            key=key, text=reaction.emoji, senderTimestampMS=int(time.time() * 1000)
        )
    )


def _media(
    msg: base.OutgoingMessage, upload: Uploader, context: Any, e2e: Any, max_media_bytes: int
) -> Any:
    media = msg.media
    if media is None or not media.data:
        raise EngineError("invalid_message", f"{msg.type} message without media", permanent=True)
    if not isinstance(media.data, bytes):
        raise EngineError("invalid_message", "media must be bytes, never a URL", permanent=True)
    if len(media.data) > max_media_bytes:
        raise EngineError(
            "media_too_large",
            f"{len(media.data)} bytes exceeds the {max_media_bytes} limit",
            permanent=True,
        )
    up = upload(media.data, _UPLOAD_KIND[msg.type])
    common: dict[str, Any] = {
        "URL": up.url,
        "directPath": up.DirectPath,
        "mediaKey": up.MediaKey,
        "fileEncSHA256": up.FileEncSHA256,
        "fileSHA256": up.FileSHA256,
        "fileLength": len(media.data),
        "mimetype": media.mimetype,
    }
    if msg.type is MessageType.IMAGE:
        content = e2e.ImageMessage(caption=media.caption, **common, **_image_meta(media.data))
        field = "imageMessage"
    elif msg.type is MessageType.VIDEO:
        content = e2e.VideoMessage(caption=media.caption, **common)
        field = "videoMessage"
    elif msg.type in (MessageType.AUDIO, MessageType.VOICE):
        content = e2e.AudioMessage(PTT=msg.type is MessageType.VOICE, **common)
        field = "audioMessage"
    elif msg.type is MessageType.STICKER:
        content = e2e.StickerMessage(**common)
        field = "stickerMessage"
    else:
        content = e2e.DocumentMessage(
            caption=media.caption,
            fileName=media.filename or "file",
            title=media.filename or "file",
            **common,
        )
        field = "documentMessage"
    if context is not None:
        content.contextInfo.CopyFrom(context)
    return e2e.Message(**{field: content})


def _image_meta(data: bytes) -> dict[str, Any]:
    """Size and a small JPEG preview; an image PIL cannot read is sent without them."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            img.thumbnail((_THUMBNAIL_PX, _THUMBNAIL_PX))
            out = io.BytesIO()
            img.convert("RGB").save(out, format="JPEG", quality=60)
        return {"width": width, "height": height, "JPEGThumbnail": out.getvalue()}
    except Exception as exc:  # a preview is optional
        log.debug("no thumbnail for image: %s", exc)
        return {}
