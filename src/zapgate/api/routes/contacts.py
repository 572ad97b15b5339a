"""``/contacts``: the people behind the chats, with CRM fields."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from zapgate.api.deps import DEFAULT_PAGE, CurrentPrincipal, Cursor, Limit, RuntimeDep
from zapgate.api.schemas import PageOut
from zapgate.api.schemas_messages import ContactPublic, ContactUpdate
from zapgate.services.contacts import ContactService


async def get_contacts(runtime: RuntimeDep) -> ContactService:
    return runtime.messaging.contacts


Contacts = Annotated[ContactService, Depends(get_contacts)]

router = APIRouter(prefix="/contacts", tags=["contacts"])


@router.get("", response_model=PageOut[ContactPublic])
async def list_contacts(
    principal: CurrentPrincipal,
    contacts: Contacts,
    q: Annotated[str | None, Query(max_length=200)] = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> dict[str, Any]:
    page = await contacts.find(principal, q=q, tag=tag, limit=limit, cursor=cursor)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/{contact_id}", response_model=ContactPublic)
async def get_contact(
    contact_id: str, principal: CurrentPrincipal, contacts: Contacts
) -> dict[str, Any]:
    return await contacts.get(principal, contact_id)


@router.patch("/{contact_id}", response_model=ContactPublic)
async def update_contact(
    contact_id: str, body: ContactUpdate, principal: CurrentPrincipal, contacts: Contacts
) -> dict[str, Any]:
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    return await contacts.update(principal, contact_id, **changes)
