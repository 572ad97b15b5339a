"""Panel: a connection's behaviour settings and own profile, a contact's picture, block
and unblock."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Response, UploadFile

from zapgate.domain.errors import DomainError
from zapgate.domain.mediatypes import served_media_type
from zapgate.domain.roles import Role
from zapgate.web.behaviour_form import FLAGS, BehaviourForm
from zapgate.web.context import SignedIn
from zapgate.web.profile_form import ProfileForm
from zapgate.web.render import go
from zapgate.web.routing import WebRoute, error_text
from zapgate.web.views.detail import detail_page

router = APIRouter(route_class=WebRoute)
Checkbox = Annotated[bool, Form()]
"""Sent when ticked, absent (False) when not."""


@router.post("/app/connections/{connection_id}/settings")
async def save_settings(
    v: SignedIn,
    connection_id: str,
    reject_calls: Checkbox = False,
    ignore_groups: Checkbox = False,
    always_online: Checkbox = False,
    auto_read: Checkbox = False,
    ignore_status: Checkbox = False,
    reject_call_message: Annotated[str, Form(max_length=5000)] = "",
    sync_history: Annotated[str, Form(max_length=16)] = "recent",
    proxy_url: Annotated[str, Form(max_length=2048)] = "",
    proxy_clear: Checkbox = False,
) -> Response:
    flags = {
        "reject_calls": reject_calls,
        "ignore_groups": ignore_groups,
        "always_online": always_online,
        "auto_read": auto_read,
        "ignore_status": ignore_status,
    }
    changes: dict[str, Any] = {
        **flags,
        "reject_call_message": reject_call_message,
        "sync_history": sync_history,
    }
    if proxy_clear:
        changes["proxy_url"] = None
    elif proxy_url.strip():
        changes["proxy_url"] = proxy_url
    try:
        await v.runtime.connections.update(v.principal, connection_id, **changes)
    except DomainError as exc:
        if exc.status not in (403, 422):
            raise
        row = await v.runtime.connections.get(v.principal, connection_id)
        form = BehaviourForm(
            flags={name: flags[name] for name in FLAGS},
            reject_call_message=reject_call_message,
            sync_history=sync_history,
            proxy_current=row.proxy_url,
            proxy_url=proxy_url,
            proxy_clear=proxy_clear,
        )
        key = f"behaviour.error.{exc.code}"
        text = v.t(key) if v.t.has(key) else error_text(v.t, exc.code, exc.message)
        return await detail_page(v, connection_id, form.refused(exc.code, text), status=422)
    return go(v, f"/app/connections/{connection_id}?saved=1#behaviour")


@router.get("/app/contacts/{contact_id}/picture")
async def contact_picture(v: SignedIn, contact_id: str) -> Response:
    """The contact's picture as the API serves it (fetched from WhatsApp once, cached)."""
    row, data = await v.runtime.messaging.profiles.picture(v.principal, contact_id)
    return Response(
        data,
        media_type=served_media_type(row.mimetype),
        headers={
            "Cache-Control": "private, max-age=300",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


async def _block(v: SignedIn, contact_id: str, chat_id: str, blocked: bool) -> Response:
    await v.runtime.messaging.profiles.block(v.principal, contact_id, blocked)
    return go(v, f"/app/inbox/{chat_id}" if chat_id else "/app/inbox")


ChatId = Annotated[str, Form(max_length=64)]


@router.post("/app/inbox/contacts/{contact_id}/block")
async def block(v: SignedIn, contact_id: str, chat_id: ChatId = "") -> Response:
    return await _block(v, contact_id, chat_id, True)


@router.post("/app/inbox/contacts/{contact_id}/unblock")
async def unblock(v: SignedIn, contact_id: str, chat_id: ChatId = "") -> Response:
    return await _block(v, contact_id, chat_id, False)


# Under /app/send so the body limit for uploads (media size) applies (see app.py).
@router.post("/app/send/profile/{connection_id}")
async def save_profile(
    v: SignedIn,
    connection_id: str,
    name: Annotated[str, Form(max_length=200)] = "",
    status: Annotated[str, Form(max_length=1000)] = "",
    picture: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """The number's own name, "about" text and picture on WhatsApp: only what changed
    is sent (an untouched field is left as WhatsApp has it)."""
    # The form is shown to admins only: anyone else gets the error page.
    v.principal.require(Role.ADMIN)
    row = await v.runtime.connections.get(v.principal, connection_id)
    changes: dict[str, Any] = {}
    if name != (row.push_name or ""):
        changes["name"] = name
    if status != (row.profile_status or ""):
        changes["status"] = status
    form = ProfileForm(name=name, status=status, has_picture=bool(row.profile_picture_media_id))
    try:
        if picture is not None and picture.filename:
            data = await picture.read()
            media = await v.runtime.messaging.media.save(
                v.principal, data, mimetype=picture.content_type, filename=picture.filename
            )
            changes["picture_media_id"] = media.id
        await v.runtime.messaging.profiles.update_own(v.principal, connection_id, **changes)
    except DomainError as exc:
        key = f"own_profile.error.{exc.code}"
        text = v.t(key) if v.t.has(key) else error_text(v.t, exc.code, exc.message)
        return await detail_page(
            v, connection_id, pform=form.refused(exc.code, text), status=exc.status
        )
    return go(v, f"/app/connections/{connection_id}?profile_saved=1#own-profile")
