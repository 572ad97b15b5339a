"""Inbox side routes: the contact panel's form and the media a conversation shows."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Response

from zapgate.domain.errors import Invalid
from zapgate.domain.mediatypes import OCTET_STREAM, content_disposition, served_media_type
from zapgate.services.contacts import MAX_CUSTOM_FIELDS
from zapgate.web.context import SignedIn
from zapgate.web.render import field_text, html_response, toast_header
from zapgate.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)
MAX_FIELD_NAME = 100
MAX_FIELD_VALUE = 1000


@router.post("/app/inbox/contacts/{contact_id}")
async def update_contact(
    v: SignedIn,
    contact_id: str,
    name: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
    company: Annotated[str, Form(max_length=200)] = "",
    tags: Annotated[str, Form(max_length=1000)] = "",
    notes: Annotated[str, Form(max_length=10000)] = "",
    custom: Annotated[bool, Form()] = False,
    cf_key: Annotated[list[str] | None, Form(max_length=MAX_CUSTOM_FIELDS + 1)] = None,
    cf_value: Annotated[list[str] | None, Form(max_length=MAX_CUSTOM_FIELDS + 1)] = None,
) -> Response:
    contacts = v.runtime.messaging.contacts
    changes: dict[str, Any] = {}
    if custom:
        # The form lists every field, so what it sends replaces what was stored.
        current = (await contacts.get(v.principal, contact_id)).get("custom_fields") or {}
        changes["custom_fields"] = custom_fields(current, cf_key or [], cf_value or [])
    contact = await contacts.update(
        v.principal,
        contact_id,
        name=name or None,
        email=email or None,
        company=company or None,
        tags=[t.strip() for t in tags.split(",") if t.strip()],
        notes=notes or None,
        **changes,
    )
    if not v.is_htmx:
        return Response(status_code=204, headers=toast_header(v.t("toast.saved")))
    return html_response(
        v, "partials/contact_form.html", contact=contact, headers=toast_header(v.t("toast.saved"))
    )


def custom_fields(current: dict[str, Any], keys: list[str], values: list[str]) -> dict[str, Any]:
    """Key-value rows from the form. A row with neither is skipped; a value without a
    name is refused. A value the API stored as a number, list... stays what it was
    while its text is unchanged (the form only edits text)."""
    fields: dict[str, Any] = {}
    for index, raw_key in enumerate(keys):
        key = raw_key.strip()
        value = values[index] if index < len(values) else ""
        if not key and not value.strip():
            continue
        if not key or len(key) > MAX_FIELD_NAME or len(value) > MAX_FIELD_VALUE:
            raise Invalid(
                f"a custom field needs a name of 1 to {MAX_FIELD_NAME} characters and a value "
                f"of at most {MAX_FIELD_VALUE}",
                code="invalid_custom_fields",
            )
        old = current.get(key)
        if old is not None and not isinstance(old, str) and value == field_text(old):
            fields[key] = old
        else:
            fields[key] = value
    return fields


# Only these open in the browser; anything else (HTML, SVG...) downloads, so a file a
# customer sent can never run script in the panel's origin.
_INLINE = ("image/png", "image/jpeg", "image/gif", "image/webp", "audio/", "video/")


@router.get("/app/media/{media_id}")
async def media(v: SignedIn, media_id: str, download: bool = False) -> Response:
    row, data = await v.runtime.messaging.media.content(v.principal, media_id)
    mimetype = served_media_type(row.mimetype)
    inline = not download and mimetype.startswith(_INLINE)
    disposition = content_disposition(
        "inline" if inline else "attachment", row.filename, default=f"file-{row.id[:8]}"
    )
    return Response(
        data,
        media_type=mimetype if inline else OCTET_STREAM,
        headers={
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=3600",
        },
    )
