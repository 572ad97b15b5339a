"""The message an engine sends, built from a claimed outbox row.

The row holds what ``POST /messages`` accepted: its columns and, in ``payload``, the
media reference, the quoted message, the reaction, the location or the contact card.
Media bytes are read from the media store only now, when the message goes out.
"""

from __future__ import annotations

from typing import Any

from zapgate.domain.errors import NotFound
from zapgate.domain.messages import ContactCard, Location, MessageType
from zapgate.domain.polls import Poll
from zapgate.engines.base import OutgoingMedia, OutgoingMessage, QuotedMessage
from zapgate.engines.events import Reaction
from zapgate.services.media import MediaStore
from zapgate.store.db import Database
from zapgate.store.tables.messages import MediaRow, MessageRow


async def outgoing_message(row: MessageRow, db: Database, media: MediaStore) -> OutgoingMessage:
    """Raises :class:`NotFound` (``media_not_found``) when the row's file is gone."""
    extra = row.payload or {}
    kind = MessageType(row.type)
    attached = await _media(extra.get("media") or {}, db, media) if kind.has_media else None
    reply = None
    if row.quoted_wa_id:
        quoted = extra.get("reply_to") or {}
        reply = QuotedMessage(row.quoted_wa_id, quoted.get("sender_jid"), quoted.get("text"))
    reaction = None
    if kind is MessageType.REACTION:
        r = extra["reaction"]
        reaction = Reaction(r["wa_message_id"], r["emoji"], r["from_me"], r.get("sender_jid"))
    location = Location(**extra["location"]) if extra.get("location") else None
    contact = ContactCard(**extra["contact"]) if extra.get("contact") else None
    poll = None
    if kind is MessageType.POLL:
        p = extra["poll"]
        poll = Poll(p["question"], tuple(p["options"]), bool(p.get("multiple")))
    return OutgoingMessage(
        wa_message_id=row.wa_message_id,
        to_jid=row.chat_jid,
        type=kind,
        text=row.text if not kind.has_media else None,
        media=attached,
        location=location,
        contact=contact,
        reaction=reaction,
        reply_to=reply,
        mentions=tuple(m["jid"] for m in extra.get("mentions") or () if m.get("jid")),
        poll=poll,
    )


async def _media(info: dict[str, Any], db: Database, media: MediaStore) -> OutgoingMedia:
    path = await _media_path(db, info.get("media_id"))
    return OutgoingMedia(
        data=await media.read(path),
        mimetype=info.get("mimetype") or "application/octet-stream",
        filename=info.get("filename"),
        caption=info.get("caption"),
    )


async def _media_path(db: Database, media_id: str | None) -> str:
    async with db.read() as s:
        row = await s.get(MediaRow, media_id) if media_id else None
    if row is None:
        raise NotFound("the message's media is gone", code="media_not_found")
    return row.path
