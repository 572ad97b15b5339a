"""``/chat/...``: read marks, messages, chats, contacts, media, typing presence
(numbers on WhatsApp are ``numbers.py``)."""

from __future__ import annotations

import base64
import contextlib
import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from zapgate.domain.errors import Invalid, NotFound
from zapgate.domain.messages import ChatPresence

from .deps import Caller, body_of, caller, instance_of, services
from .shapes import (
    TYPES_BY_NAME,
    chat_record,
    contact_record,
    message_record,
    protocol_record,
    seconds,
)

if TYPE_CHECKING:
    # Rows handed over by the services, named for type checking only.
    from zapgate.store.tables.connections import ConnectionRow

router = APIRouter()
Who = Annotated[Caller, Depends(caller)]
MAX_SCAN = 5000
"""Messages of one chat a findMessages reads at most (Evolution pages by number)."""


class ReadKey(BaseModel):
    model_config = ConfigDict(extra="ignore")
    remoteJid: str
    fromMe: bool | None = None
    id: str | None = None


class ReadIn(BaseModel):
    readMessages: list[ReadKey] = Field(min_length=1)


class FindIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    where: dict[str, Any] = Field(default_factory=dict)
    page: int = Field(default=1, ge=1)
    offset: int = Field(default=50, ge=1, le=200)


class MediaKey(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str


class MediaMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    key: MediaKey


class Base64In(BaseModel):
    model_config = ConfigDict(extra="ignore")
    message: MediaMessage
    convertToMp4: bool = False


class PresenceIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    number: str
    presence: str
    delay: int | None = Field(default=None, ge=0)


class OwnPresenceIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    presence: str


OWN_PRESENCE = {"available": True, "unavailable": False}
MAX_PRESENCE_DELAY_MS = 60_000
"""A sendPresence holds its request for ``delay``; longer than this is refused."""


_PRESENCE = {
    "composing": ChatPresence.TYPING,
    "recording": ChatPresence.RECORDING,
    "paused": ChatPresence.PAUSED,
}


@router.post("/chat/markMessageAsRead/{instance}")
async def mark_read(request: Request, instance: str, who: Who) -> Any:
    row = await instance_of(request, who, instance)
    body = await body_of(request, ReadIn)
    found = services(request)
    # zapgate reads a whole chat (every message the customer sent up to now).
    for jid in dict.fromkeys(k.remoteJid for k in body.readMessages):
        chat_id = await found.instances.chat_id(who.principal, row.id, jid)
        await found.messaging.inbox.mark_read(who.principal, chat_id)
    return {"message": "Read messages", "read": "success"}


async def _all_messages(request: Request, who: Caller, chat_id: str) -> list[dict[str, Any]]:
    inbox = services(request).messaging.inbox
    found: list[dict[str, Any]] = []
    before: str | None = None
    while len(found) < MAX_SCAN:
        page = await inbox.messages(who.principal, chat_id, before=before, limit=200)
        found.extend(page.items)
        before = page.next_cursor
        if before is None:
            break
    return found


async def _chat_of(request: Request, who: Caller, row: ConnectionRow, jid: str) -> str | None:
    """The chat with ``jid``, or None when there is none yet (Evolution then finds no
    messages rather than an error)."""
    try:
        return await services(request).instances.chat_id(who.principal, row.id, jid)
    except NotFound:
        return None
    except Invalid as exc:
        if exc.code == "unknown_lid":
            return None
        raise


def _epoch_seconds(value: Any) -> int:
    """A bound of ``where.messageTimestamp`` read as Evolution reads it, with
    JavaScript's ``new Date(value)``: a number is milliseconds since the epoch, a string
    an ISO 8601 date or time (UTC unless it names an offset); floored to seconds, the
    unit of ``messageTimestamp``."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return math.floor(value / 1000)
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
            return math.floor(when.timestamp())
    raise Invalid(
        f"where.messageTimestamp: {value!r} is not a date (ISO 8601, or epoch milliseconds)",
        code="validation_error",
    )


def _time_range(where: dict[str, Any]) -> tuple[int, int] | None:
    """``where.messageTimestamp``'s ``{gte, lte}`` in seconds; as in Evolution, only
    both together filter."""
    span = where.get("messageTimestamp")
    if not isinstance(span, dict) or not span.get("gte") or not span.get("lte"):
        return None
    return _epoch_seconds(span["gte"]), _epoch_seconds(span["lte"])


def _in_range(m: dict[str, Any], span: tuple[int, int] | None) -> bool:
    if span is None:
        return True
    at = seconds(m.get("created_at"))
    return at is not None and span[0] <= at <= span[1]


def _matches(m: dict[str, Any], where: dict[str, Any]) -> bool:
    key = where.get("key") if isinstance(where.get("key"), dict) else {}
    assert isinstance(key, dict)
    if key.get("id") and m.get("wa_message_id") != key["id"]:
        return False
    if key.get("fromMe") is not None and (m.get("direction") == "out") != bool(key["fromMe"]):
        return False
    if where.get("id") and m.get("id") != where["id"]:
        return False
    kinds = TYPES_BY_NAME.get(str(where.get("messageType") or ""))
    return not (where.get("messageType") and (kinds is None or m.get("type") not in kinds))


@router.post("/chat/findMessages/{instance}")
async def find_messages(request: Request, instance: str, who: Who) -> Any:
    row = await instance_of(request, who, instance)
    body = await body_of(request, FindIn)
    key = body.where.get("key") if isinstance(body.where.get("key"), dict) else {}
    remote = key.get("remoteJid") if isinstance(key, dict) else None
    if not remote:
        raise Invalid("where.key.remoteJid is required", code="validation_error")
    span = _time_range(body.where)
    chat_id = await _chat_of(request, who, row, str(remote))
    messages = await _all_messages(request, who, chat_id) if chat_id else []
    found = [m for m in messages if _matches(m, body.where) and _in_range(m, span)]
    start = (body.page - 1) * body.offset
    records = [message_record(m, instance_id=row.id) for m in found[start : start + body.offset]]
    for record in records:
        # Evolution's stored rows always have the column, null without a reply or mention.
        record.setdefault("contextInfo", None)
    return {
        "messages": {
            "total": len(found),
            "pages": math.ceil(len(found) / body.offset),
            "currentPage": body.page,
            "records": records,
        }
    }


async def _chats(request: Request, who: Caller, row: ConnectionRow) -> list[dict[str, Any]]:
    inbox = services(request).messaging.inbox
    chats: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = await inbox.chats(who.principal, connection_id=row.id, limit=200, cursor=cursor)
        chats.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return chats


class ChatsIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    where: dict[str, Any] = Field(default_factory=dict)


async def _jids(request: Request, who: Caller, row: ConnectionRow, value: str) -> set[str]:
    """The chat JIDs ``value`` names: itself, and the JID a number in another form
    (digits, a known LID) resolves to, as Evolution's ``createJid`` makes one."""
    jids = {value}
    # Not a number: only a chat with exactly this JID matches.
    with contextlib.suppress(Invalid):
        jids.add(await services(request).instances.recipient(who.principal, row.id, value))
    return jids


@router.post("/chat/findChats/{instance}")
async def find_chats(request: Request, instance: str, who: Who) -> Any:
    row = await instance_of(request, who, instance)
    body = await body_of(request, ChatsIn)
    chats = await _chats(request, who, row)
    wanted = body.where.get("remoteJid")
    if wanted:
        jids = await _jids(request, who, row, str(wanted))
        chats = [c for c in chats if c.get("jid") in jids]
    return [chat_record(c) for c in chats]


@router.post("/chat/findContacts/{instance}")
async def find_contacts(request: Request, instance: str, who: Who) -> Any:
    row = await instance_of(request, who, instance)
    body = await body_of(request, FindIn)
    found = services(request)
    # Contacts belong to the organization; an instance shows those it talks to.
    mine = {c["contact_id"] for c in await _chats(request, who, row) if c["contact_id"]}
    records = []
    for contact_id in sorted(mine):
        contact = await found.messaging.contacts.get(who.principal, contact_id)
        record = contact_record(contact, instance_id=row.id)
        wanted = body.where.get("remoteJid") or body.where.get("id")
        if wanted and wanted not in (record["remoteJid"], record["remoteJidAlt"], record["id"]):
            continue
        records.append(record)
    return records


@router.post("/chat/getBase64FromMediaMessage/{instance}")
async def media_base64(request: Request, instance: str, who: Who) -> Any:
    row = await instance_of(request, who, instance)
    body = await body_of(request, Base64In)
    if body.convertToMp4:
        raise Invalid("convertToMp4 is not supported", code="evolution_convert_not_supported")
    found = services(request)
    message_id = await found.instances.message_id(who.principal, row.id, body.message.key.id)
    message = await found.messaging.messages.get(who.principal, message_id)
    media = message.get("media") or {}
    if not media.get("media_id"):
        raise Invalid("this message has no media", code="no_media")
    stored, data = await found.messaging.media.content(who.principal, media["media_id"])
    return {
        "mediaType": message.get("type"),
        "fileName": stored.filename,
        "caption": media.get("caption"),
        "size": {"fileLength": stored.size},
        "mimetype": stored.mimetype,
        "base64": base64.b64encode(data).decode(),
    }


@router.post("/chat/sendPresence/{instance}")
async def send_presence(request: Request, instance: str, who: Who) -> JSONResponse:
    """Typing or recording in a chat for ``delay`` ms, then paused (Evolution answers
    once the delay is over); ``available``/``unavailable`` are the number's own."""
    row = await instance_of(request, who, instance)
    body = await body_of(request, PresenceIn)
    found = services(request)
    if body.presence in OWN_PRESENCE:
        await found.connections.set_presence(who.principal, row.id, OWN_PRESENCE[body.presence])
        return JSONResponse({"presence": body.presence}, status_code=201)
    presence = _PRESENCE.get(body.presence)
    if presence is None:
        raise Invalid(
            "presence must be one of unavailable, available, composing, recording, paused",
            code="invalid_presence",
        )
    delay = body.delay or 0
    if delay > MAX_PRESENCE_DELAY_MS:
        raise Invalid(
            f"delay is at most {MAX_PRESENCE_DELAY_MS} ms", code="presence_delay_too_long"
        )
    chat_id = await found.instances.chat_id(who.principal, row.id, body.number)
    inbox = found.messaging.inbox
    await inbox.presence(who.principal, chat_id, presence)
    if delay > 0 and presence is not ChatPresence.PAUSED:
        await found.clock.sleep(delay / 1000)
        await inbox.presence(who.principal, chat_id, ChatPresence.PAUSED)
    return JSONResponse({"presence": body.presence}, status_code=201)


class EditKey(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1)
    remoteJid: str = Field(min_length=1)
    fromMe: bool


class UpdateMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    number: str = Field(min_length=1)
    key: EditKey
    text: str = Field(min_length=1)


class DeleteMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1)
    fromMe: bool
    remoteJid: str = Field(min_length=1)
    participant: str | None = None


def _not_ours() -> Invalid:
    return Invalid("only messages this number sent (fromMe) can be changed", code="not_own_message")


@router.post("/chat/updateMessage/{instance}")
async def update_message(request: Request, instance: str, who: Who) -> JSONResponse:
    """Edit a text this number sent: answered, as Evolution does, with the edit sent."""
    row = await instance_of(request, who, instance)
    body = await body_of(request, UpdateMessageIn)
    if not body.key.fromMe:
        raise _not_ours()
    found = services(request)
    chat = await found.instances.recipient(who.principal, row.id, body.number)
    changes = found.messaging.changes
    mid = await changes.by_whatsapp_id(who.principal, row.id, chat, body.key.id)
    edited = await changes.edit(who.principal, mid, body.text)
    return JSONResponse(protocol_record(edited, "MESSAGE_EDIT"), status_code=201)


@router.delete("/chat/deleteMessageForEveryone/{instance}")
async def delete_for_everyone(request: Request, instance: str, who: Who) -> JSONResponse:
    row = await instance_of(request, who, instance)
    body = await body_of(request, DeleteMessageIn)
    if not body.fromMe:
        raise _not_ours()
    found = services(request)
    chat = await found.instances.recipient(who.principal, row.id, body.remoteJid)
    changes = found.messaging.changes
    mid = await changes.by_whatsapp_id(who.principal, row.id, chat, body.id)
    revoked = await changes.revoke(who.principal, mid)
    return JSONResponse(protocol_record(revoked, "REVOKE"), status_code=201)
