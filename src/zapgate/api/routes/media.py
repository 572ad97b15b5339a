"""``/media``: upload once and send by ``media_id``; download stored media."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Response, UploadFile, status

from zapgate.api.deps import CurrentPrincipal, RuntimeDep
from zapgate.api.schemas_messages import MediaPublic
from zapgate.domain.mediatypes import content_disposition, served_media_type
from zapgate.services.media import MediaService


async def get_media(runtime: RuntimeDep) -> MediaService:
    return runtime.messaging.media


Media = Annotated[MediaService, Depends(get_media)]

router = APIRouter(prefix="/media", tags=["media"])


@router.post("", response_model=MediaPublic, status_code=status.HTTP_201_CREATED)
async def upload_media(
    principal: CurrentPrincipal,
    media: Media,
    file: Annotated[UploadFile, File()],
    mimetype: Annotated[str | None, Form(max_length=200)] = None,
) -> MediaPublic:
    # The body-size middleware already refused anything over the media limit.
    data = await file.read()
    given = mimetype or (
        file.content_type if file.content_type != "application/octet-stream" else None
    )
    row = await media.save(principal, data, mimetype=given, filename=file.filename)
    return MediaPublic.model_validate(row)


@router.get(
    "/{media_id}",
    response_class=Response,
    responses={
        200: {
            "description": "The file, with the media type it was stored with.",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def download_media(media_id: str, principal: CurrentPrincipal, media: Media) -> Response:
    row, data = await media.content(principal, media_id)
    headers = {"ETag": f'"{row.sha256}"', "Cache-Control": "private, max-age=86400"}
    if row.filename:
        headers["Content-Disposition"] = content_disposition("inline", row.filename)
    return Response(data, media_type=served_media_type(row.mimetype), headers=headers)
