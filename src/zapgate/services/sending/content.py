"""What a send carries besides its text, resolved before its message is committed: the
media file (an upload, base64, or a URL fetched now) and the messages a reply or a
reaction refers to, in the same chat."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.errors import Invalid
from zapgate.domain.ids import is_id
from zapgate.domain.messages import Direction, MessageType
from zapgate.domain.phones import is_group_jid, normalize_phone, user_jid
from zapgate.services.context import Principal
from zapgate.services.media import MediaService
from zapgate.services.sending.requests import MediaInput
from zapgate.services.stickers import WEBP, sticker_webp
from zapgate.store.tables.conversations import GroupRow
from zapgate.store.tables.messages import MediaRow, MessageRow

MENTIONABLE = frozenset(
    {MessageType.TEXT, MessageType.IMAGE, MessageType.VIDEO, MessageType.DOCUMENT}
)
"""What can mention: a text, or a file with a caption."""


async def resolve_media(
    media_service: MediaService, principal: Principal, media: MediaInput, kind: MessageType
) -> MediaRow:
    """The stored file the message will carry (uploaded before, or stored now); for a
    sticker, a WebP made from it when it is another kind of picture."""
    if kind is MessageType.STICKER:
        # The source may be any picture an image may be; the WebP made from it is what
        # has to fit a sticker's limit.
        source = await _resolve(media_service, principal, media, MessageType.IMAGE)
        _, data = await media_service.content(principal, source.id)
        webp = await sticker_webp(data, source.mimetype)
        if webp is None:
            media_service.check_size(source.size, kind)
            return source
        name = (source.filename or "sticker").rsplit(".", 1)[0] + ".webp"
        return await media_service.save(principal, webp, mimetype=WEBP, filename=name, kind=kind)
    return await _resolve(media_service, principal, media, kind)


async def _resolve(
    media_service: MediaService, principal: Principal, media: MediaInput, kind: MessageType
) -> MediaRow:
    if media.media_id:
        stored = await media_service.get(principal, media.media_id)
        media_service.check_size(stored.size, kind)
        return stored
    if media.url:
        return await media_service.from_url(
            principal, media.url, mimetype=media.mimetype, filename=media.filename, kind=kind
        )
    assert media.base64 is not None
    return await media_service.from_base64(
        principal, media.base64, mimetype=media.mimetype, filename=media.filename, kind=kind
    )


def media_content(stored: MediaRow, caption: str | None) -> dict[str, Any]:
    """The message payload's ``media``."""
    return {
        "media_id": stored.id,
        "mimetype": stored.mimetype,
        "filename": stored.filename,
        "size": stored.size,
        "sha256": stored.sha256,
        "caption": caption,
    }


async def referenced(
    s: AsyncSession, principal: Principal, ref: str, chat_jid: str, what: str
) -> MessageRow:
    """A message referred to by zapgate id or WhatsApp id, in the same chat (else 422
    ``unknown_message``; ``what`` names the field)."""
    clause = MessageRow.wa_message_id == ref
    if is_id(ref):
        clause = or_(MessageRow.id == ref, clause)
    row = await s.scalar(
        select(MessageRow)
        .where(
            MessageRow.organization_id == principal.organization_id,
            MessageRow.chat_jid == chat_jid,
            clause,
        )
        .limit(1)
    )
    if row is None:
        raise Invalid(f"{what} refers to an unknown message", code="unknown_message")
    return row


def reply_content(target: MessageRow) -> dict[str, Any]:
    """The message payload's ``reply_to``."""
    return {"id": target.id, "sender_jid": target.sender_jid, "text": target.text}


def reaction_content(target: MessageRow, emoji: str | None) -> dict[str, Any]:
    """The message payload's ``reaction``."""
    return {
        "message_id": target.id,
        "wa_message_id": target.wa_message_id,
        "emoji": emoji or "",
        "from_me": target.direction == Direction.OUT,
        "sender_jid": target.sender_jid,
    }


def mentioned_phones(phones: list[str]) -> list[str]:
    """The JIDs of ``phones`` (in order, once each); 422 ``invalid_phone`` names a bad one."""
    jids: list[str] = []
    for raw in phones:
        try:
            jid = user_jid(normalize_phone(raw))
        except Invalid as exc:
            raise Invalid(
                f"mentions: {exc.message}", code="invalid_phone", details={"phone": raw}
            ) from exc
        if jid not in jids:
            jids.append(jid)
    return jids


def check_mentions(kind: MessageType, mentions: list[str] | str, chat_jid: str) -> None:
    if kind not in MENTIONABLE:
        raise Invalid(
            f"a {kind.value} message cannot mention anyone (a text or a caption can)",
            code="mentions_not_supported",
        )
    if mentions == "all" and not is_group_jid(chat_jid):
        raise Invalid('mentions "all" is for group chats', code="mentions_all_outside_group")


async def group_members(
    s: AsyncSession, principal: Principal, chat_jid: str, connection_id: str | None
) -> list[str]:
    """Every participant's JID of the group ``chat_jid`` as last stored (on
    ``connection_id`` when given); 422 ``group_unknown`` when no connection knows it."""
    query = select(GroupRow.participants).where(
        GroupRow.organization_id == principal.organization_id, GroupRow.jid == chat_jid
    )
    if connection_id is not None:
        query = query.where(GroupRow.connection_id == connection_id)
    participants = await s.scalar(query.order_by(GroupRow.updated_at.desc()).limit(1))
    if not participants:
        raise Invalid(
            "the group's participants are not known here yet (list the connection's groups first)",
            code="group_unknown",
        )
    jids: list[str] = []
    for member in participants:
        jid = member.get("jid") or (user_jid(member["phone"]) if member.get("phone") else None)
        if jid and jid not in jids:
            jids.append(jid)
    return jids
