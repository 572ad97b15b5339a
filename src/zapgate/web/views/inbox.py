"""Inbox: chat list with tabs, the conversation, the composer and the contact panel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Response, UploadFile

from zapgate.domain.chats import ChatStatus
from zapgate.domain.errors import Invalid
from zapgate.domain.mediatypes import OCTET_STREAM, content_disposition, served_media_type
from zapgate.domain.messages import MessageType
from zapgate.domain.roles import Role
from zapgate.services.contacts import MAX_CUSTOM_FIELDS
from zapgate.services.sending.requests import MediaInput
from zapgate.web.context import SignedIn, Visitor
from zapgate.web.render import field_text, html_response, toast_header
from zapgate.web.routing import WebRoute
from zapgate.web.views.message_actions import actions_for, edit_message

router = APIRouter(route_class=WebRoute)
MINE = "mine"
"""The tab of the chats assigned to the person looking, whatever their status."""
TABS = (*(s.value for s in ChatStatus), MINE)
CHAT_PAGE = 100
MESSAGE_PAGE = 80
# A refresh keeps the older messages a person loaded, up to this many.
MAX_LOADED = 1000
MAX_FIELD_NAME = 100
MAX_FIELD_VALUE = 1000
Tab = Annotated[str, Query(max_length=16)]
Search = Annotated[str, Query(max_length=200)]


def _tab(value: str) -> str:
    return value if value in TABS else ChatStatus.PENDING.value


async def _chat_list(v: Visitor, tab: str, q: str) -> list[dict[str, Any]]:
    inbox = v.runtime.messaging.inbox
    if tab == MINE:
        page = await inbox.chats(
            v.principal, assignee_id=v.me.user.id, q=q or None, limit=CHAT_PAGE
        )
    else:
        page = await inbox.chats(v.principal, status=tab, q=q or None, limit=CHAT_PAGE)
    contacts = v.runtime.messaging.contacts
    for chat in page.items:
        contact = None
        if chat.get("contact_id") and not chat.get("is_group"):
            contact = await contacts.get(v.principal, chat["contact_id"])
        chat["title"] = chat_title(chat, contact)
    return page.items


def chat_title(chat: dict[str, Any], contact: dict[str, Any] | None = None) -> str:
    if contact and (contact.get("name") or contact.get("push_name")):
        return str(contact.get("name") or contact.get("push_name"))
    if chat.get("name"):
        return str(chat["name"])
    return "+" + str(chat["jid"]).split("@", 1)[0]


async def _list_context(v: Visitor, tab: str, q: str, current: str | None) -> dict[str, Any]:
    seen = v.runtime.last_event_id()
    return {
        "chats": await _chat_list(v, tab, q),
        "tab": tab,
        "tabs": TABS,
        "q": q,
        "current": current,
        "seen": seen,
    }


def _shown(page_items: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """Messages oldest first, with reactions folded into the bubbles they react to, and
    what may be done to each (edit, delete for everyone)."""
    items = list(reversed(page_items))
    by_wa = {m["wa_message_id"]: m for m in items}
    reactions: dict[str, list[str]] = {}
    shown = []
    for m in items:
        reaction = m.get("reaction") or {}
        if m["type"] == "reaction" and reaction.get("wa_message_id") in by_wa:
            reactions.setdefault(reaction["wa_message_id"], []).append(reaction.get("emoji", ""))
        else:
            shown.append(m)
    return {
        "messages": shown,
        "by_wa": by_wa,
        "reactions": reactions,
        "actions": {m["id"]: actions_for(m, now) for m in shown},
        "oldest": items[0]["id"] if items else "",
    }


async def _recent(v: Visitor, chat_id: str, from_id: str) -> tuple[list[dict[str, Any]], bool]:
    """The newest page, or (a refresh after "load older") everything from ``from_id`` on,
    newest first, up to MAX_LOADED; and whether older messages remain."""
    inbox = v.runtime.messaging.inbox
    if not from_id:
        page = await inbox.messages(v.principal, chat_id, limit=MESSAGE_PAGE)
        return page.items, page.next_cursor is not None
    items: list[dict[str, Any]] = []
    before: str | None = None
    while True:
        page = await inbox.messages(v.principal, chat_id, before=before, limit=200)
        for m in page.items:
            if m["id"] < from_id or len(items) >= MAX_LOADED:
                return items, True
            items.append(m)
        if page.next_cursor is None:
            return items, False
        before = page.next_cursor


async def _messages_context(v: Visitor, chat: dict[str, Any], from_id: str = "") -> dict[str, Any]:
    seen = v.runtime.last_event_id()
    items, older = await _recent(v, chat["id"], from_id)
    return {"chat": chat, "older": older, "seen": seen, **_shown(items, v.runtime.clock.now())}


async def _controls_context(v: Visitor, chat: dict[str, Any]) -> dict[str, Any]:
    users: list[Any] = []
    if v.principal.role.at_least(Role.MANAGER):
        users = (await v.runtime.accounts.list_users(v.principal, limit=200, cursor=None)).items
    return {"chat": chat, "users": users, "seen": v.runtime.last_event_id()}


@router.get("/app/inbox")
async def inbox(v: SignedIn, tab: Tab = ChatStatus.PENDING.value, q: Search = "") -> Response:
    context = await _list_context(v, _tab(tab), q, None)
    return html_response(v, "pages/inbox.html", nav="inbox", chat=None, **context)


@router.get("/app/inbox/list")
async def chat_list(
    v: SignedIn, tab: Tab = ChatStatus.PENDING.value, q: Search = "", chat: Search = ""
) -> Response:
    context = await _list_context(v, _tab(tab), q, chat or None)
    return html_response(v, "partials/chat_list.html", **context)


@router.get("/app/inbox/{chat_id}")
async def conversation(v: SignedIn, chat_id: str, tab: Tab = "", q: Search = "") -> Response:
    chat = await v.runtime.messaging.inbox.chat(v.principal, chat_id)
    contact = await _contact(v, chat)
    context = await _list_context(v, _tab(tab or chat["status"]), q, chat_id)
    context.update(await _messages_context(v, chat))
    return html_response(
        v,
        "pages/inbox.html",
        nav="inbox",
        contact=contact,
        title=chat_title(chat, contact),
        controls=await _controls_context(v, chat),
        **context,
    )


async def _contact(v: Visitor, chat: dict[str, Any]) -> dict[str, Any] | None:
    if not chat.get("contact_id"):
        return None
    return await v.runtime.messaging.contacts.get(v.principal, chat["contact_id"])


@router.get("/app/inbox/{chat_id}/messages")
async def messages(
    v: SignedIn, chat_id: str, from_: Annotated[str, Query(alias="from", max_length=64)] = ""
) -> Response:
    chat = await v.runtime.messaging.inbox.chat(v.principal, chat_id)
    context = await _messages_context(v, chat, from_)
    return html_response(v, "partials/messages.html", **context)


@router.get("/app/inbox/{chat_id}/messages/older")
async def older_messages(
    v: SignedIn, chat_id: str, before: Annotated[str, Query(max_length=64)]
) -> Response:
    chat = await v.runtime.messaging.inbox.chat(v.principal, chat_id)
    page = await v.runtime.messaging.inbox.messages(
        v.principal, chat_id, before=before, limit=MESSAGE_PAGE
    )
    context = _shown(page.items, v.runtime.clock.now())
    if not page.items:
        context["oldest"] = before
    return html_response(
        v,
        "partials/older_messages.html",
        chat=chat,
        older=page.next_cursor is not None,
        **context,
    )


@router.post("/app/inbox/{chat_id}/read")
async def mark_read(v: SignedIn, chat_id: str) -> Response:
    await v.runtime.messaging.inbox.mark_read(v.principal, chat_id)
    return Response(status_code=204)


@router.get("/app/inbox/{chat_id}/controls")
async def controls(v: SignedIn, chat_id: str) -> Response:
    chat = await v.runtime.messaging.inbox.chat(v.principal, chat_id)
    return html_response(v, "partials/chat_controls.html", **await _controls_context(v, chat))


@router.post("/app/inbox/{chat_id}/status")
async def set_status(
    v: SignedIn, chat_id: str, status: Annotated[str, Form(max_length=16)]
) -> Response:
    chat = await v.runtime.messaging.inbox.update_chat(v.principal, chat_id, status=status)
    return html_response(v, "partials/chat_controls.html", **await _controls_context(v, chat))


@router.post("/app/inbox/{chat_id}/assign")
async def assign(
    v: SignedIn, chat_id: str, assignee_id: Annotated[str, Form(max_length=64)] = ""
) -> Response:
    chat = await v.runtime.messaging.inbox.update_chat(
        v.principal, chat_id, assignee_id=assignee_id or None
    )
    return html_response(v, "partials/chat_controls.html", **await _controls_context(v, chat))


def kind_of(mimetype: str) -> MessageType:
    major = mimetype.split("/", 1)[0]
    return {
        "image": MessageType.IMAGE,
        "video": MessageType.VIDEO,
        "audio": MessageType.AUDIO,
    }.get(major, MessageType.DOCUMENT)


# Under /app/send so the body limit for uploads (media size) applies (see app.py).
@router.post("/app/send/{chat_id}")
async def send(
    v: SignedIn,
    chat_id: str,
    text: Annotated[str, Form(max_length=4096)] = "",
    reply_to: Annotated[str, Form(max_length=128)] = "",
    file: Annotated[UploadFile | None, File()] = None,
    edit_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    inbox = v.runtime.messaging
    chat = await inbox.inbox.chat(v.principal, chat_id)
    if edit_id:
        # The composer holds a new text for a message of ours (``data-edit``).
        await edit_message(v, chat, edit_id, text)
        return Response(status_code=204, headers=toast_header(v.t("msg.edit_done")))
    target = {"to": chat["jid"], "connection_id": chat["connection_id"]}
    reply = reply_to or None
    if file is not None and file.filename:
        data = await file.read()
        media = await inbox.media.save(
            v.principal, data, mimetype=file.content_type, filename=file.filename
        )
        await inbox.messages.send(
            v.principal,
            type=kind_of(media.mimetype),
            media=MediaInput(media_id=media.id, filename=file.filename, caption=text or None),
            reply_to=reply,
            **target,
        )
    elif text.strip():
        await inbox.messages.send(
            v.principal, type=MessageType.TEXT, text=text, reply_to=reply, **target
        )
    else:
        raise Invalid("write a message or attach a file", code="empty_message")
    if chat["status"] != ChatStatus.ACTIVE or chat["assignee_id"] is None:
        # Answering takes the chat: it becomes active and, when nobody had it, yours.
        changes: dict[str, Any] = {"status": ChatStatus.ACTIVE.value}
        if chat["assignee_id"] is None:
            changes["assignee_id"] = v.me.user.id
        await inbox.inbox.update_chat(v.principal, chat_id, **changes)
    return Response(status_code=204)


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
