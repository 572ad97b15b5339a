"""Profiles: ``/contacts/{id}/picture``, ``/contacts/{id}/block`` and ``/unblock``,
``/connections/{id}/profile``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from zapgate.api.deps import CurrentPrincipal, RuntimeDep
from zapgate.api.openapi import error_responses
from zapgate.api.schemas_connections import ConnectionPublic, ProfileUpdateIn
from zapgate.api.schemas_messages import BlockOut
from zapgate.domain.mediatypes import served_media_type
from zapgate.services.profiles import ProfileService

PICTURE_HEADERS = {
    # A private answer: another member of the organization may not share a cache.
    "Cache-Control": "private, max-age=300",
    "X-Content-Type-Options": "nosniff",
    # An image opened on its own runs nothing.
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Content-Disposition": 'inline; filename="picture"',
}


async def get_profiles(runtime: RuntimeDep) -> ProfileService:
    return runtime.messaging.profiles


Profiles = Annotated[ProfileService, Depends(get_profiles)]

router = APIRouter(tags=["contacts"])


@router.get(
    "/contacts/{contact_id}/picture",
    response_class=Response,
    responses={
        200: {
            "description": "The contact's profile picture, fetched from WhatsApp on first "
            "use and cached (24 h; 1 h for none). WhatsApp's own URL is never given out.",
            "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
        },
        **error_responses(404, 409, 503),
    },
)
async def contact_picture(
    contact_id: str, principal: CurrentPrincipal, profiles: Profiles
) -> Response:
    row, data = await profiles.picture(principal, contact_id)
    headers = {**PICTURE_HEADERS, "ETag": f'"{row.sha256}"'}
    return Response(data, media_type=served_media_type(row.mimetype), headers=headers)


@router.post(
    "/contacts/{contact_id}/block", response_model=BlockOut, responses=error_responses(409, 503)
)
async def block_contact(
    contact_id: str, principal: CurrentPrincipal, profiles: Profiles
) -> dict[str, Any]:
    return await profiles.block(principal, contact_id, True)


@router.post(
    "/contacts/{contact_id}/unblock", response_model=BlockOut, responses=error_responses(409, 503)
)
async def unblock_contact(
    contact_id: str, principal: CurrentPrincipal, profiles: Profiles
) -> dict[str, Any]:
    return await profiles.block(principal, contact_id, False)


@router.patch(
    "/connections/{connection_id}/profile",
    response_model=ConnectionPublic,
    tags=["connections"],
    responses=error_responses(409, 503),
)
async def update_profile(
    connection_id: str, body: ProfileUpdateIn, principal: CurrentPrincipal, profiles: Profiles
) -> ConnectionPublic:
    row = await profiles.update_own(
        principal,
        connection_id,
        name=body.name,
        status=body.status,
        picture_media_id=body.picture_media_id,
    )
    return ConnectionPublic.model_validate(row)
