"""``/messages`` (send, status, cancel) and the number/group lookups of a connection."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, status

from zapgate.api.deps import CurrentPrincipal, RuntimeDep
from zapgate.api.schemas_messages import (
    CheckNumbersIn,
    GroupPublic,
    MessageCreate,
    MessagePublic,
    NumberCheckOut,
)
from zapgate.domain.messages import MessageType
from zapgate.engines.base import ContactCard, Location
from zapgate.services.lookups import LookupService
from zapgate.services.messages import MediaInput, MessageService


async def get_messages(runtime: RuntimeDep) -> MessageService:
    return runtime.messaging.messages


async def get_lookups(runtime: RuntimeDep) -> LookupService:
    return runtime.messaging.lookups


Messages = Annotated[MessageService, Depends(get_messages)]
Lookups = Annotated[LookupService, Depends(get_lookups)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]

router = APIRouter(tags=["messages"])


@router.post("/messages", response_model=MessagePublic, status_code=status.HTTP_202_ACCEPTED)
async def send_message(
    body: MessageCreate,
    principal: CurrentPrincipal,
    messages: Messages,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Queue a message; answered once it is committed to the outbox."""
    media = MediaInput(**body.media.model_dump()) if body.media else None
    location = Location(**body.location.model_dump()) if body.location else None
    contact = ContactCard(**body.contact.model_dump()) if body.contact else None
    return await messages.send(
        principal,
        to=body.to,
        type=MessageType(body.type),
        connection_id=body.connection_id,
        text=body.text,
        media=media,
        location=location,
        contact=contact,
        reaction_to=body.reaction.message_id if body.reaction else None,
        emoji=body.reaction.emoji if body.reaction else None,
        reply_to=body.reply_to,
        send_at=body.send_at,
        template_id=body.template_id,
        variables=dict(body.variables) if body.variables is not None else None,
        idempotency_key=idempotency_key.strip() or None if idempotency_key else None,
    )


@router.get("/messages/{message_id}", response_model=MessagePublic)
async def get_message(
    message_id: str, principal: CurrentPrincipal, messages: Messages
) -> dict[str, Any]:
    return await messages.get(principal, message_id)


@router.post("/messages/{message_id}/cancel", response_model=MessagePublic)
async def cancel_message(
    message_id: str, principal: CurrentPrincipal, messages: Messages
) -> dict[str, Any]:
    return await messages.cancel(principal, message_id)


@router.post("/connections/{connection_id}/check-numbers", response_model=list[NumberCheckOut])
async def check_numbers(
    connection_id: str, body: CheckNumbersIn, principal: CurrentPrincipal, lookups: Lookups
) -> list[dict[str, Any]]:
    return await lookups.check_numbers(principal, connection_id, body.phones)


@router.get("/connections/{connection_id}/groups", response_model=list[GroupPublic])
async def groups(
    connection_id: str, principal: CurrentPrincipal, lookups: Lookups
) -> list[dict[str, Any]]:
    return await lookups.groups(principal, connection_id)
