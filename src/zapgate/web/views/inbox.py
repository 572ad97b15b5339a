"""Inbox: chat list with tabs, the conversation, the composer and the contact panel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Response, UploadFile

from zapgate.domain.chats import ChatStatus
from zapgate.domain.errors import Invalid
from zapgate.domain.messages import MessageType
from zapgate.domain.roles import Role
from zapgate.services.sending.requests import MediaInput
from zapgate.web.context import SignedIn, Visitor
from zapgate.web.people import ConnectionTag, connection_tags, human_phone
from zapgate.web.render import html_response, toast_header
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
Tab = Annotated[str, Query(max_length=16)]
Search = Annotated[str, Query(max_length=200)]
ConnectionFilter = Annotated[str, Query(alias="connection", max_length=64)]


def _tab(value: str) -> str:
    return value if value in TABS else ChatStatus.PENDING.value


async def _chat_list(
    v: Visitor, tab: str, q: str, connection: str, tags: dict[str, ConnectionTag]
) -> list[dict[str, Any]]:
    inbox = v.runtime.messaging.inbox
    where: dict[str, Any] = {"q": q or None, "connection_id": connection or None}
    if tab == MINE:
        page = await inbox.chats(v.principal, assignee_id=v.me.user.id, limit=CHAT_PAGE, **where)
    else:
        page = await inbox.chats(v.principal, status=tab, limit=CHAT_PAGE, **where)
    contacts = v.runtime.messaging.contacts
    for chat in page.items:
        contact = None
        if chat.get("contact_id") and not chat.get("is_group"):
            contact = await contacts.get(v.principal, chat["contact_id"])
        chat["title"] = chat_title(chat, contact)
        chat["tag"] = tags.get(chat["connection_id"])
    return page.items


def chat_title(chat: dict[str, Any], contact: dict[str, Any] | None = None) -> str:
    if contact and (contact.get("name") or contact.get("push_name")):
        return str(contact.get("name") or contact.get("push_name"))
    if chat.get("name"):
        return str(chat["name"])
    return human_phone(str(chat["jid"]))


async def _list_context(
    v: Visitor, tab: str, q: str, current: str | None, connection: str = ""
) -> dict[str, Any]:
    seen = v.runtime.last_event_id()
    tags = await connection_tags(v)
    if connection not in tags:
        connection = ""  # an unknown (or another organization's) number filters nothing
    return {
        "chats": await _chat_list(v, tab, q, connection, tags),
        "tab": tab,
        "tabs": TABS,
        "q": q,
        "current": current,
        "connection": connection,
        "tags": tags,
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
    assignee = await v.runtime.messaging.inbox.assignee_name(v.principal, chat)
    return {"chat": chat, "users": users, "assignee": assignee, "seen": v.runtime.last_event_id()}


@router.get("/app/inbox")
async def inbox(
    v: SignedIn, tab: Tab = ChatStatus.PENDING.value, q: Search = "", conn: ConnectionFilter = ""
) -> Response:
    context = await _list_context(v, _tab(tab), q, None, conn)
    return html_response(v, "pages/inbox.html", nav="inbox", chat=None, **context)


@router.get("/app/inbox/list")
async def chat_list(
    v: SignedIn,
    tab: Tab = ChatStatus.PENDING.value,
    q: Search = "",
    chat: Search = "",
    conn: ConnectionFilter = "",
) -> Response:
    context = await _list_context(v, _tab(tab), q, chat or None, conn)
    return html_response(v, "partials/chat_list.html", **context)


@router.get("/app/inbox/{chat_id}")
async def conversation(
    v: SignedIn, chat_id: str, tab: Tab = "", q: Search = "", conn: ConnectionFilter = ""
) -> Response:
    chat = await v.runtime.messaging.inbox.chat(v.principal, chat_id)
    contact = await _contact(v, chat)
    context = await _list_context(v, _tab(tab or chat["status"]), q, chat_id, conn)
    context.update(await _messages_context(v, chat))
    return html_response(
        v,
        "pages/inbox.html",
        nav="inbox",
        contact=contact,
        title=chat_title(chat, contact),
        controls=await _controls_context(v, chat),
        tag=context["tags"].get(chat["connection_id"]),
        siblings=await _siblings(v, chat, contact, context["tags"]),
        **context,
    )


async def _siblings(
    v: Visitor,
    chat: dict[str, Any],
    contact: dict[str, Any] | None,
    tags: dict[str, ConnectionTag],
) -> list[dict[str, Any]]:
    """The same person's chats on the organization's other numbers (one contact, one
    chat per number), each with its connection's tag."""
    if contact is None or chat.get("is_group"):
        return []
    key = contact.get("phone") or str(contact.get("jid", "")).split("@", 1)[0]
    if not key:
        return []
    page = await v.runtime.messaging.inbox.chats(v.principal, q=key, limit=CHAT_PAGE)
    return [
        {**c, "tag": tags.get(c["connection_id"])}
        for c in page.items
        if c.get("contact_id") == contact["id"] and c["id"] != chat["id"]
    ]


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
