"""``/chat/...`` profile routes: a contact's picture URL and profile, blocking, and the
instance's own name, status and picture.

``fetchProfilePictureUrl`` answers a URL of zapgate's own picture endpoint
(``/api/v1/contacts/{id}/picture``, fetched from WhatsApp and cached), never WhatsApp's
signed CDN URL: that one expires within days and would tell WhatsApp who looks at the
picture. Fetching it needs the organization's API key (``X-API-Key``), like the rest of
the API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from zapgate.domain.errors import Invalid, NotFound

from .deps import Caller, body_of, caller, instance_of, services

router = APIRouter()
Who = Annotated[Caller, Depends(caller)]
PICTURE_PATH = "/api/v1/contacts/{}/picture"


class NumberIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    number: str = Field(min_length=1, max_length=128)


class MaybeNumberIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    number: str | None = Field(default=None, max_length=128)


class BlockIn(NumberIn):
    status: str


class NameIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: str


class PictureIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    picture: str = Field(min_length=1)


def picture_url(request: Request, contact_id: str) -> str:
    return f"{request.url.scheme}://{request.url.netloc}{PICTURE_PATH.format(contact_id)}"


async def _contact(request: Request, who: Caller, instance_id: str, number: str) -> tuple[str, str]:
    """``(jid, contact id)`` for a number in any of Evolution's forms."""
    found = services(request)
    jid = await found.instances.recipient(who.principal, instance_id, number)
    if jid.endswith("@g.us"):
        raise Invalid("a group has no profile here", code="invalid_contact")
    return jid, await found.messaging.profiles.contact_for(who.principal, jid)


async def _picture(request: Request, who: Caller, contact_id: str) -> str | None:
    try:
        await services(request).messaging.profiles.picture(who.principal, contact_id)
    except NotFound as exc:
        if exc.code != "picture_not_found":
            raise
        return None
    return picture_url(request, contact_id)


@router.post("/chat/fetchProfilePictureUrl/{instance}")
async def fetch_profile_picture_url(request: Request, instance: str, who: Who) -> Any:
    row = await instance_of(request, who, instance)
    body = await body_of(request, NumberIn)
    jid, contact_id = await _contact(request, who, row.id, body.number)
    return {"wuid": jid, "profilePictureUrl": await _picture(request, who, contact_id)}


@router.post("/chat/fetchProfile/{instance}")
async def fetch_profile(request: Request, instance: str, who: Who) -> Any:
    row = await instance_of(request, who, instance)
    body = await body_of(request, MaybeNumberIn)
    found = services(request)
    if not body.number:
        media = row.profile_picture_media_id
        base = f"{request.url.scheme}://{request.url.netloc}"
        return {
            "wuid": row.jid or (f"{row.phone}@s.whatsapp.net" if row.phone else None),
            "name": row.push_name,
            "numberExists": True,
            "picture": f"{base}/api/v1/media/{media}" if media else None,
            "status": row.profile_status,
            "isBusiness": None,
        }
    jid, contact_id = await _contact(request, who, row.id, body.number)
    picture = await _picture(request, who, contact_id)
    contact = await found.messaging.contacts.get(who.principal, contact_id)
    return {
        "wuid": jid,
        "name": contact["name"] or contact["push_name"],
        "numberExists": contact["on_whatsapp"] if contact["on_whatsapp"] is not None else True,
        "picture": picture,
        "status": None,
        "isBusiness": contact["is_business"],
    }


@router.post("/chat/updateBlockStatus/{instance}")
async def update_block_status(request: Request, instance: str, who: Who) -> Any:
    row = await instance_of(request, who, instance)
    body = await body_of(request, BlockIn)
    if body.status not in ("block", "unblock"):
        raise Invalid('status must be "block" or "unblock"', code="validation_error")
    _, contact_id = await _contact(request, who, row.id, body.number)
    await services(request).messaging.profiles.block(
        who.principal, contact_id, body.status == "block", connection_id=row.id
    )
    return {"block": "success"}


async def _own(request: Request, who: Caller, row_id: str, **changes: Any) -> Any:
    await services(request).messaging.profiles.update_own(who.principal, row_id, **changes)
    return {"update": "success"}


@router.post("/chat/updateProfileName/{instance}")
async def update_profile_name(request: Request, instance: str, who: Who) -> Any:
    row = await instance_of(request, who, instance)
    body = await body_of(request, NameIn)
    return await _own(request, who, row.id, name=body.name)


@router.post("/chat/updateProfileStatus/{instance}")
async def update_profile_status(request: Request, instance: str, who: Who) -> Any:
    row = await instance_of(request, who, instance)
    body = await body_of(request, StatusIn)
    return await _own(request, who, row.id, status=body.status)


@router.post("/chat/updateProfilePicture/{instance}")
async def update_profile_picture(request: Request, instance: str, who: Who) -> Any:
    row = await instance_of(request, who, instance)
    body = await body_of(request, PictureIn)
    media = services(request).messaging.media
    value = body.picture.strip()
    if value.startswith(("http://", "https://")):
        saved = await media.from_url(who.principal, value, mimetype=None, filename=None)
    else:
        saved = await media.from_base64(who.principal, value, mimetype=None, filename=None)
    return await _own(request, who, row.id, picture_media_id=saved.id)
