"""``/message/send*``: Evolution's send routes onto zapgate's outbox.

Every send is accepted by ``MessageService.send`` (stored, then sent by the outbox
with its retries and pacing) and answered 201 with Evolution's message shape and
``status: "PENDING"``; a phone WhatsApp says is not on it is refused first (400), as
Evolution's ``sendMessageWithTyping`` does.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from zapgate.domain.errors import Invalid
from zapgate.domain.messages import ContactCard, Location, MessageType
from zapgate.domain.polls import Poll
from zapgate.services.lookups import NumberAnswer
from zapgate.services.sending.requests import MediaInput

from .deps import Caller, body_of, caller, instance_of, not_implemented, services
from .shapes import message_record

if TYPE_CHECKING:
    # Rows handed over by the services, named for type checking only.
    from zapgate.store.tables.connections import ConnectionRow

router = APIRouter()
Who = Annotated[Caller, Depends(caller)]


class QuotedKey(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str


class Quoted(BaseModel):
    model_config = ConfigDict(extra="ignore")
    key: QuotedKey


class Metadata(BaseModel):
    model_config = ConfigDict(extra="ignore")
    number: str
    delay: int | None = Field(default=None, ge=0)
    quoted: Quoted | None = None
    linkPreview: bool | None = None
    mentionsEveryOne: bool | None = None
    mentioned: list[str] | None = None


class TextIn(Metadata):
    text: str


class MediaIn(Metadata):
    mediatype: str
    mimetype: str | None = None
    caption: str | None = None
    fileName: str | None = None
    media: str | None = None
    file: dict[str, Any] | None = None


class AudioIn(Metadata):
    audio: str | None = None
    file: dict[str, Any] | None = None


class LocationIn(Metadata):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    fullName: str
    wuid: str | None = None
    phoneNumber: str | None = None
    organization: str | None = None
    email: str | None = None
    url: str | None = None


class ContactsIn(Metadata):
    contact: list[ContactIn]


class StickerIn(Metadata):
    sticker: str | None = None
    """A URL or base64 (a data URL included)."""
    file: dict[str, Any] | None = None
    notConvertSticker: bool | None = None
    """Ignored: a WebP is sent as it is anyway, and WhatsApp shows nothing else."""


class PollIn(Metadata):
    name: str
    selectableCount: int = Field(ge=0)
    """1: one option per voter; 0 (or more than 1): several."""
    values: list[str]


class ReactionKey(BaseModel):
    model_config = ConfigDict(extra="ignore")
    remoteJid: str
    fromMe: bool | None = None
    id: str


class ReactionIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    key: ReactionKey
    reaction: str


_MEDIA_TYPES = {
    "image": MessageType.IMAGE,
    "video": MessageType.VIDEO,
    "document": MessageType.DOCUMENT,
    "audio": MessageType.AUDIO,
}


def _media(value: str | None, upload: dict[str, Any] | None, **extra: Any) -> MediaInput:
    if upload is not None and isinstance(upload.get("data"), bytes):
        return MediaInput(
            base64=base64.b64encode(upload["data"]).decode(),
            filename=extra.get("filename") or upload.get("filename"),
            mimetype=extra.get("mimetype") or upload.get("mimetype"),
            caption=extra.get("caption"),
        )
    if not value or not value.strip():
        raise Invalid("media is required (a URL, base64, or a file upload)", code="missing_content")
    value = value.strip()
    if value.startswith(("http://", "https://")):
        return MediaInput(url=value, **extra)
    return MediaInput(base64=value, **extra)


async def _recipient(
    request: Request, who: Caller, row: ConnectionRow, number: str
) -> tuple[str, NumberAnswer | None]:
    """The chat JID, and WhatsApp's answer for a phone: checked first when the instance
    is connected, as Evolution does (groups and LIDs are not; not connected, the outbox
    checks it)."""
    found = await services(request).instances.resolve(who.principal, row.id, number, check=True)
    if found.answer is not None and not found.answer.on_whatsapp:
        entry = {"jid": found.jid, "exists": False, "number": number}
        # Evolution's BadRequestException(check): 400, the check as response.message.
        raise Invalid(f"{number} is not on WhatsApp", code="not_on_whatsapp", details=[entry])
    return found.jid, found.answer


async def _send(
    request: Request, who: Caller, row: ConnectionRow, meta: Metadata | None, **fields: Any
) -> JSONResponse:
    found = services(request)
    answer: NumberAnswer | None = None
    if meta is not None:
        fields["to"], answer = await _recipient(request, who, row, meta.number)
        if meta.mentionsEveryOne:
            fields["mentions"] = "all"
        elif meta.mentioned:
            # Evolution takes numbers or JIDs; zapgate mentions phones.
            fields["mentions"] = [m.split("@", 1)[0] for m in meta.mentioned]
        quoted = meta.quoted.key.id if meta.quoted is not None else None
        # Evolution quotes a message it finds, and sends without a quote otherwise.
        if quoted and await found.instances.quotable(who.principal, fields["to"], quoted):
            fields["reply_to"] = quoted
    sent = await found.messaging.messages.send(who.principal, connection_id=row.id, **fields)
    if answer is not None:
        # The send made the contact: it keeps the answer, and the outbox asks no more.
        await found.messaging.lookups.remember_answer(who.principal, answer)
    return JSONResponse(message_record(sent, instance_id=row.id), status_code=201)


@router.post("/message/sendText/{instance}")
async def send_text(request: Request, instance: str, who: Who) -> JSONResponse:
    row = await instance_of(request, who, instance)
    body = await body_of(request, TextIn)
    return await _send(request, who, row, body, type=MessageType.TEXT, text=body.text)


@router.post("/message/sendMedia/{instance}")
async def send_media(request: Request, instance: str, who: Who) -> JSONResponse:
    row = await instance_of(request, who, instance)
    body = await body_of(request, MediaIn)
    kind = _MEDIA_TYPES.get(body.mediatype)
    if kind is None:
        if body.mediatype == "ptv":
            raise not_implemented("POST", request.url.path + " with mediatype ptv")
        raise Invalid("mediatype must be image, video, document or audio", code="invalid_type")
    media = _media(
        body.media,
        body.file,
        filename=body.fileName,
        mimetype=body.mimetype,
        caption=body.caption,
    )
    return await _send(request, who, row, body, type=kind, media=media)


@router.post("/message/sendWhatsAppAudio/{instance}")
async def send_audio(request: Request, instance: str, who: Who) -> JSONResponse:
    row = await instance_of(request, who, instance)
    body = await body_of(request, AudioIn)
    media = _media(body.audio, body.file)
    return await _send(request, who, row, body, type=MessageType.VOICE, media=media)


@router.post("/message/sendLocation/{instance}")
async def send_location(request: Request, instance: str, who: Who) -> JSONResponse:
    row = await instance_of(request, who, instance)
    body = await body_of(request, LocationIn)
    place = Location(body.latitude, body.longitude, body.name, body.address)
    return await _send(request, who, row, body, type=MessageType.LOCATION, location=place)


def _vcard(card: ContactIn, phone: str | None) -> str:
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{card.fullName}"]
    if card.organization:
        lines.append(f"ORG:{card.organization};")
    if card.email:
        lines.append(f"EMAIL:{card.email}")
    if card.url:
        lines.append(f"URL:{card.url}")
    if phone:
        lines.append(f"TEL;type=CELL;type=VOICE;waid={phone}:+{phone}")
    lines.append("END:VCARD")
    return "\n".join(lines)


@router.post("/message/sendContact/{instance}")
async def send_contact(request: Request, instance: str, who: Who) -> JSONResponse:
    row = await instance_of(request, who, instance)
    body = await body_of(request, ContactsIn)
    if len(body.contact) != 1:
        raise Invalid(
            "zapgate sends one contact card per message: give exactly one contact",
            code="one_contact_per_message",
        )
    (card,) = body.contact
    raw = card.wuid or card.phoneNumber
    phone = "".join(ch for ch in raw.split("@", 1)[0] if ch.isdigit()) if raw else None
    contact = ContactCard(card.fullName, phone or None, _vcard(card, phone or None))
    return await _send(request, who, row, body, type=MessageType.CONTACT, contact=contact)


@router.post("/message/sendSticker/{instance}")
async def send_sticker(request: Request, instance: str, who: Who) -> JSONResponse:
    row = await instance_of(request, who, instance)
    body = await body_of(request, StickerIn)
    media = _media(body.sticker, body.file)
    return await _send(request, who, row, body, type=MessageType.STICKER, media=media)


@router.post("/message/sendPoll/{instance}")
async def send_poll(request: Request, instance: str, who: Who) -> JSONResponse:
    row = await instance_of(request, who, instance)
    body = await body_of(request, PollIn)
    # WhatsApp knows one option per voter or "as many as wanted": a count above 1
    # cannot be kept, and becomes the latter.
    poll = Poll(body.name, tuple(body.values), multiple=body.selectableCount != 1)
    return await _send(request, who, row, body, type=MessageType.POLL, poll=poll)


@router.post("/message/sendReaction/{instance}")
async def send_reaction(request: Request, instance: str, who: Who) -> JSONResponse:
    row = await instance_of(request, who, instance)
    body = await body_of(request, ReactionIn)
    to, _ = await _recipient(request, who, row, body.key.remoteJid)
    return await _send(
        request,
        who,
        row,
        None,
        to=to,
        type=MessageType.REACTION,
        reaction_to=body.key.id,
        emoji=body.reaction,
    )
