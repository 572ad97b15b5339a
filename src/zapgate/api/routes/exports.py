"""``/exports``: event exports to RabbitMQ and NATS JetStream, their delivery log and
manual redelivery (the webhooks' delivery pipeline, published to a broker)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from zapgate.api.deps import DEFAULT_PAGE, CurrentPrincipal, Cursor, Limit, RuntimeDep
from zapgate.api.schemas import PageOut
from zapgate.api.schemas_events import (
    AttemptPublic,
    DeliveryDetailOut,
    DeliveryPublic,
    DeliveryStatusIn,
)
from zapgate.api.schemas_exports import ExportCreate, ExportPublic, ExportUpdate
from zapgate.services.exports import ExportService

router = APIRouter(prefix="/exports", tags=["exports"])


async def get_exports(runtime: RuntimeDep) -> ExportService:
    return runtime.exports


Exports = Annotated[ExportService, Depends(get_exports)]


@router.post("", response_model=ExportPublic, status_code=status.HTTP_201_CREATED)
async def create_export(
    body: ExportCreate, principal: CurrentPrincipal, exports: Exports
) -> ExportPublic:
    row = await exports.create(principal, **body.model_dump())
    return ExportPublic.model_validate(row)


@router.get("", response_model=PageOut[ExportPublic])
async def list_exports(
    principal: CurrentPrincipal,
    exports: Exports,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> PageOut[ExportPublic]:
    page = await exports.find(principal, limit=limit, cursor=cursor)
    return PageOut[ExportPublic](
        items=[ExportPublic.model_validate(r) for r in page.items], next_cursor=page.next_cursor
    )


@router.get("/{export_id}", response_model=ExportPublic)
async def get_export(export_id: str, principal: CurrentPrincipal, exports: Exports) -> ExportPublic:
    return ExportPublic.model_validate(await exports.get(principal, export_id))


@router.patch("/{export_id}", response_model=ExportPublic)
async def update_export(
    export_id: str, body: ExportUpdate, principal: CurrentPrincipal, exports: Exports
) -> ExportPublic:
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    # These cannot be unset: a null there changes nothing.
    for name in ("url", "enabled", "exchange", "stream"):
        if changes.get(name, True) is None:
            del changes[name]
    row = await exports.update(principal, export_id, **changes)
    return ExportPublic.model_validate(row)


@router.delete("/{export_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_export(export_id: str, principal: CurrentPrincipal, exports: Exports) -> Response:
    await exports.delete(principal, export_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{export_id}/deliveries", response_model=PageOut[DeliveryPublic])
async def list_export_deliveries(
    export_id: str,
    principal: CurrentPrincipal,
    exports: Exports,
    status: DeliveryStatusIn | None = None,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> PageOut[DeliveryPublic]:
    page = await exports.deliveries(principal, export_id, status=status, limit=limit, cursor=cursor)
    return PageOut[DeliveryPublic](
        items=[DeliveryPublic.model_validate(r) for r in page.items], next_cursor=page.next_cursor
    )


@router.get("/{export_id}/deliveries/{delivery_id}", response_model=DeliveryDetailOut)
async def get_export_delivery(
    export_id: str, delivery_id: str, principal: CurrentPrincipal, exports: Exports
) -> DeliveryDetailOut:
    detail = await exports.delivery(principal, export_id, delivery_id)
    public = DeliveryPublic.model_validate(detail.delivery)
    return DeliveryDetailOut(
        **public.model_dump(),
        attempt_log=[AttemptPublic.model_validate(a) for a in detail.attempts],
    )


@router.post(
    "/{export_id}/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryPublic,
    status_code=status.HTTP_202_ACCEPTED,
)
async def redeliver_export(
    export_id: str, delivery_id: str, principal: CurrentPrincipal, exports: Exports
) -> DeliveryPublic:
    return DeliveryPublic.model_validate(await exports.redeliver(principal, export_id, delivery_id))
