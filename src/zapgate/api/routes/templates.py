"""``/templates``: reusable texts with ``{{variables}}``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status

from zapgate.api.deps import DEFAULT_PAGE, CurrentPrincipal, Cursor, Limit, RuntimeDep
from zapgate.api.openapi import error_responses
from zapgate.api.schemas import PageOut
from zapgate.api.schemas_messages import TemplateCreate, TemplatePublic, TemplateUpdate
from zapgate.services.templates import TemplateService, template_payload


async def get_templates(runtime: RuntimeDep) -> TemplateService:
    return runtime.messaging.templates


Templates = Annotated[TemplateService, Depends(get_templates)]

router = APIRouter(prefix="/templates", tags=["templates"])


@router.get("", response_model=PageOut[TemplatePublic])
async def list_templates(
    principal: CurrentPrincipal,
    templates: Templates,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> dict[str, Any]:
    page = await templates.find(principal, q=q, limit=limit, cursor=cursor)
    return {"items": [template_payload(r) for r in page.items], "next_cursor": page.next_cursor}


@router.post(
    "",
    response_model=TemplatePublic,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
)
async def create_template(
    body: TemplateCreate, principal: CurrentPrincipal, templates: Templates
) -> dict[str, Any]:
    return template_payload(await templates.create(principal, name=body.name, body=body.body))


@router.get("/{template_id}", response_model=TemplatePublic)
async def get_template(
    template_id: str, principal: CurrentPrincipal, templates: Templates
) -> dict[str, Any]:
    return template_payload(await templates.get(principal, template_id))


@router.patch("/{template_id}", response_model=TemplatePublic, responses=error_responses(409))
async def update_template(
    template_id: str, body: TemplateUpdate, principal: CurrentPrincipal, templates: Templates
) -> dict[str, Any]:
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    return template_payload(await templates.update(principal, template_id, **changes))


@router.delete("/{template_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_template(
    template_id: str, principal: CurrentPrincipal, templates: Templates
) -> Response:
    await templates.delete(principal, template_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
