"""``/messages`` (send, status, cancel) and the number/group lookups of a connection."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic_core import to_json

from zapgate.api.characters import character_refused
from zapgate.api.deps import CurrentPrincipal, RuntimeDep
from zapgate.api.openapi import error_responses
from zapgate.api.schemas_messages import (
    CheckNumbersIn,
    GroupPublic,
    MessageCreate,
    MessageEditIn,
    MessagePublic,
    NumberCheckOut,
)
from zapgate.domain.errors import Invalid
from zapgate.domain.messages import ContactCard, Location, MessageType
from zapgate.domain.polls import Poll
from zapgate.domain.text import NUL
from zapgate.services.context import Principal
from zapgate.services.lookups import LookupService
from zapgate.services.messages import MessageService
from zapgate.services.sending.requests import MediaInput
from zapgate.services.system import System


async def get_messages(runtime: RuntimeDep) -> MessageService:
    return runtime.messaging.messages


async def get_lookups(runtime: RuntimeDep) -> LookupService:
    return runtime.messaging.lookups


Messages = Annotated[MessageService, Depends(get_messages)]
Lookups = Annotated[LookupService, Depends(get_lookups)]

router = APIRouter(tags=["messages"])

JSON = "application/json"
MAX_IDEMPOTENCY_KEY = 200
IDEMPOTENCY_KEY_DOC = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "The same key (with the same body) answers the same message, once.",
    "schema": {"type": "string", "maxLength": MAX_IDEMPOTENCY_KEY},
}


def idempotency_key(raw: str | None) -> str | None:
    """The ``Idempotency-Key`` header's value (blank means none)."""
    if raw is None:
        return None
    if len(raw) > MAX_IDEMPOTENCY_KEY:
        raise Invalid(
            f"Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY} characters",
            code="invalid_idempotency_key",
        )
    if NUL in raw:
        raise character_refused("header", "Idempotency-Key")
    return raw.strip() or None


async def accept(
    messages: MessageService, principal: Principal, body: MessageCreate, key: str | None
) -> dict[str, Any]:
    """Queue the message ``body`` describes; what both ways in (route, fast lane) do."""
    return await messages.send(
        principal,
        to=body.to,
        type=MessageType(body.type),
        connection_id=body.connection_id,
        text=body.text,
        media=MediaInput(**body.media.model_dump()) if body.media else None,
        location=Location(**body.location.model_dump()) if body.location else None,
        contact=ContactCard(**body.contact.model_dump()) if body.contact else None,
        reaction_to=body.reaction.message_id if body.reaction else None,
        emoji=body.reaction.emoji if body.reaction else None,
        reply_to=body.reply_to,
        send_at=body.send_at,
        template_id=body.template_id,
        variables=dict(body.variables) if body.variables is not None else None,
        mentions=list(body.mentions) if isinstance(body.mentions, list) else body.mentions,
        idempotency_key=key,
        poll=Poll(body.poll.question, tuple(body.poll.options), body.poll.multiple)
        if body.poll
        else None,
    )


@router.post(
    "/messages",
    response_model=MessagePublic,
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra={"parameters": [IDEMPOTENCY_KEY_DOC]},
    responses=error_responses(404, 409),
)
async def send_message(
    request: Request, principal: CurrentPrincipal, body: MessageCreate
) -> Response:
    """Queue a message; answered once it is committed to the outbox.

    Most requests never get here: the fast lane (``api/fastlane.py``) answers valid JSON
    bodies of a declared length with the same :func:`accept`. This route documents the
    operation and serves the rest (chunked bodies, other content types, bodies that do
    not validate); it reads its service and header from the request and serializes its
    answer once.
    """
    runtime: System = request.app.state.runtime
    key = idempotency_key(request.headers.get("idempotency-key"))
    payload = await accept(runtime.messaging.messages, principal, body, key)
    return Response(to_json(payload), status_code=status.HTTP_202_ACCEPTED, media_type=JSON)


@router.get("/messages/{message_id}", response_model=MessagePublic)
async def get_message(
    message_id: str, principal: CurrentPrincipal, messages: Messages
) -> dict[str, Any]:
    return await messages.get(principal, message_id)


@router.post(
    "/messages/{message_id}/cancel", response_model=MessagePublic, responses=error_responses(409)
)
async def cancel_message(
    message_id: str, principal: CurrentPrincipal, messages: Messages
) -> dict[str, Any]:
    return await messages.cancel(principal, message_id)


@router.post(
    "/messages/{message_id}/edit",
    response_model=MessagePublic,
    responses=error_responses(404, 409, 422),
)
async def edit_message(
    message_id: str, body: MessageEditIn, principal: CurrentPrincipal, runtime: RuntimeDep
) -> dict[str, Any]:
    """Replace the text of a text message this number sent (within WhatsApp's 15
    minutes); a message still queued gets the new text before it leaves."""
    return await runtime.messaging.changes.edit(principal, message_id, body.text)


@router.post(
    "/messages/{message_id}/revoke",
    response_model=MessagePublic,
    responses=error_responses(404, 409, 422),
)
async def revoke_message(
    message_id: str, principal: CurrentPrincipal, runtime: RuntimeDep
) -> dict[str, Any]:
    """Delete a message this number sent for everyone (within two days); a message
    still queued is canceled instead."""
    return await runtime.messaging.changes.revoke(principal, message_id)


@router.post(
    "/connections/{connection_id}/check-numbers",
    response_model=list[NumberCheckOut],
    responses=error_responses(409, 503),
)
async def check_numbers(
    connection_id: str, body: CheckNumbersIn, principal: CurrentPrincipal, lookups: Lookups
) -> list[dict[str, Any]]:
    return await lookups.check_numbers(principal, connection_id, body.phones)


@router.get(
    "/connections/{connection_id}/groups",
    response_model=list[GroupPublic],
    responses=error_responses(409, 503),
)
async def groups(
    connection_id: str, principal: CurrentPrincipal, lookups: Lookups
) -> list[dict[str, Any]]:
    return await lookups.groups(principal, connection_id)
