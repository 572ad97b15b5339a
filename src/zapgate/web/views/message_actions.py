"""Correcting a message from the conversation: edit the text of a recent message of
ours, or delete it for everyone. The bubble offers each only while WhatsApp allows it
(the service checks again, and answers a late click with a notice)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response

from zapgate.domain.errors import NotFound
from zapgate.domain.messages import EDIT_WINDOW, REVOKE_WINDOW, Direction, MessageType
from zapgate.web.context import SignedIn, Visitor
from zapgate.web.render import toast_header
from zapgate.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)

_WAITING = ("queued", "scheduled")
_SENT = ("sent", "delivered", "read", "played")


def actions_for(m: dict[str, Any], now: datetime) -> tuple[str, ...]:
    """What the person may do to message ``m`` now: ``edit`` and/or ``revoke``."""
    if m.get("direction") != Direction.OUT or m.get("revoked_at"):
        return ()
    if m.get("type") in (MessageType.REACTION, MessageType.CALL):
        return ()
    text = m.get("type") == MessageType.TEXT
    if m.get("status") in _WAITING:
        return ("edit", "revoke") if text else ("revoke",)
    sent_at = m.get("sent_at")
    if m.get("status") not in _SENT or not sent_at:
        return ()
    age = now - datetime.fromisoformat(sent_at)
    found: list[str] = []
    if text and age <= EDIT_WINDOW:
        found.append("edit")
    if age <= REVOKE_WINDOW:
        found.append("revoke")
    return tuple(found)


async def edit_message(v: Visitor, chat: dict[str, Any], message_id: str, text: str) -> None:
    """The composer's edit: the message must be of the conversation it was edited in."""
    message = await v.runtime.messaging.messages.get(v.principal, message_id)
    if message["chat_id"] != chat["id"]:
        raise NotFound("message not found", code="message_not_found")
    await v.runtime.messaging.changes.edit(v.principal, message_id, text)


@router.post("/app/inbox/{chat_id}/messages/{message_id}/revoke")
async def revoke(v: SignedIn, chat_id: str, message_id: str) -> Response:
    chat = await v.runtime.messaging.inbox.chat(v.principal, chat_id)
    message = await v.runtime.messaging.messages.get(v.principal, message_id)
    if message["chat_id"] != chat["id"]:
        raise NotFound("message not found", code="message_not_found")
    await v.runtime.messaging.changes.revoke(v.principal, message_id)
    return Response(status_code=204, headers=toast_header(v.t("msg.revoke_done")))
