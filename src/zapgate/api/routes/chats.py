"""``/chats``: the shared inbox."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status

from zapgate.api.deps import DEFAULT_PAGE, CurrentPrincipal, Cursor, Limit, RuntimeDep
from zapgate.api.openapi import error_responses
from zapgate.api.schemas import PageOut
from zapgate.api.schemas_messages import ChatPublic, ChatUpdate, MessagePublic, PresenceIn
from zapgate.domain.messages import ChatPresence
from zapgate.services.inbox import InboxService


async def get_inbox(runtime: RuntimeDep) -> InboxService:
    return runtime.messaging.inbox


Inbox = Annotated[InboxService, Depends(get_inbox)]

router = APIRouter(prefix="/chats", tags=["chats"])


@router.get("", response_model=PageOut[ChatPublic])
async def list_chats(
    principal: CurrentPrincipal,
    inbox: Inbox,
    connection_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    assignee_id: Annotated[str | None, Query(max_length=64)] = None,
    unread: bool | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> dict[str, Any]:
    page = await inbox.chats(
        principal,
        connection_id=connection_id,
        status=status,
        assignee_id=assignee_id,
        unread=unread,
        q=q,
        limit=limit,
        cursor=cursor,
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/{chat_id}", response_model=ChatPublic)
async def get_chat(chat_id: str, principal: CurrentPrincipal, inbox: Inbox) -> dict[str, Any]:
    return await inbox.chat(principal, chat_id)


@router.patch("/{chat_id}", response_model=ChatPublic)
async def update_chat(
    chat_id: str, body: ChatUpdate, principal: CurrentPrincipal, inbox: Inbox
) -> dict[str, Any]:
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    return await inbox.update_chat(principal, chat_id, **changes)


@router.post("/{chat_id}/read", response_model=ChatPublic)
async def mark_read(chat_id: str, principal: CurrentPrincipal, inbox: Inbox) -> dict[str, Any]:
    return await inbox.mark_read(principal, chat_id)


@router.post(
    "/{chat_id}/presence",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(409, 503),
)
async def presence(
    chat_id: str, body: PresenceIn, principal: CurrentPrincipal, inbox: Inbox
) -> Response:
    await inbox.presence(principal, chat_id, ChatPresence(body.presence))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{chat_id}/messages", response_model=PageOut[MessagePublic])
async def chat_messages(
    chat_id: str,
    principal: CurrentPrincipal,
    inbox: Inbox,
    before: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = DEFAULT_PAGE,
) -> dict[str, Any]:
    page = await inbox.messages(principal, chat_id, before=before, limit=limit)
    return {"items": page.items, "next_cursor": page.next_cursor}
