"""``/connections``: create, configure, link and drive WhatsApp numbers."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response, status

from zapgate.api.deps import DEFAULT_PAGE, CurrentPrincipal, Cursor, Limit, RuntimeDep
from zapgate.api.openapi import error_responses
from zapgate.api.schemas import PageOut
from zapgate.api.schemas_connections import (
    ConnectionCreate,
    ConnectionLogEntry,
    ConnectionPublic,
    ConnectionStats,
    ConnectionStatus,
    ConnectionUpdate,
    PairingCodeIn,
    PairingCodeOut,
    QrOut,
)
from zapgate.domain.states import ConnectionState
from zapgate.services.connections import ConnectionService
from zapgate.services.qr import data_url, qr_png, qr_svg


async def get_connections(runtime: RuntimeDep) -> ConnectionService:
    return runtime.connections


Connections = Annotated[ConnectionService, Depends(get_connections)]

router = APIRouter(prefix="/connections", tags=["connections"])


@router.post(
    "",
    response_model=ConnectionPublic,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
)
async def create_connection(
    body: ConnectionCreate, principal: CurrentPrincipal, connections: Connections
) -> ConnectionPublic:
    row = await connections.create(
        principal, name=body.name, label=body.label, is_primary=body.is_primary
    )
    return ConnectionPublic.model_validate(row)


@router.get("", response_model=PageOut[ConnectionPublic])
async def list_connections(
    principal: CurrentPrincipal,
    connections: Connections,
    state: ConnectionState | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> PageOut[ConnectionPublic]:
    page = await connections.find(principal, state=state, q=q, limit=limit, cursor=cursor)
    return PageOut[ConnectionPublic](
        items=[ConnectionPublic.model_validate(r) for r in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/{connection_id}", response_model=ConnectionPublic)
async def get_connection(
    connection_id: str, principal: CurrentPrincipal, connections: Connections
) -> ConnectionPublic:
    return ConnectionPublic.model_validate(await connections.get(principal, connection_id))


@router.patch("/{connection_id}", response_model=ConnectionPublic)
async def update_connection(
    connection_id: str,
    body: ConnectionUpdate,
    principal: CurrentPrincipal,
    connections: Connections,
) -> ConnectionPublic:
    given = body.model_fields_set
    changes = {name: getattr(body, name) for name in given}
    row = await connections.update(principal, connection_id, **changes)
    return ConnectionPublic.model_validate(row)


@router.delete("/{connection_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_connection(
    connection_id: str, principal: CurrentPrincipal, connections: Connections
) -> Response:
    await connections.delete(principal, connection_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{connection_id}/start",
    response_model=ConnectionPublic,
    status_code=status.HTTP_202_ACCEPTED,
)
async def start_connection(
    connection_id: str, principal: CurrentPrincipal, connections: Connections
) -> ConnectionPublic:
    return ConnectionPublic.model_validate(await connections.start(principal, connection_id))


@router.post(
    "/{connection_id}/stop", response_model=ConnectionPublic, status_code=status.HTTP_202_ACCEPTED
)
async def stop_connection(
    connection_id: str, principal: CurrentPrincipal, connections: Connections
) -> ConnectionPublic:
    return ConnectionPublic.model_validate(await connections.stop(principal, connection_id))


@router.post(
    "/{connection_id}/reconnect",
    response_model=ConnectionPublic,
    status_code=status.HTTP_202_ACCEPTED,
)
async def reconnect_connection(
    connection_id: str, principal: CurrentPrincipal, connections: Connections
) -> ConnectionPublic:
    return ConnectionPublic.model_validate(await connections.reconnect(principal, connection_id))


@router.post(
    "/{connection_id}/logout",
    response_model=ConnectionPublic,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(409, 503),
)
async def logout_connection(
    connection_id: str, principal: CurrentPrincipal, connections: Connections
) -> ConnectionPublic:
    return ConnectionPublic.model_validate(await connections.logout(principal, connection_id))


@router.get(
    "/{connection_id}/qr",
    response_model=QrOut,
    responses={
        200: {"content": {"image/png": {}, "image/svg+xml": {}}},
        **error_responses(410),
    },
)
async def get_qr(
    connection_id: str,
    principal: CurrentPrincipal,
    connections: Connections,
    format: Literal["json", "png", "svg"] = "json",
) -> Response | QrOut:
    qr = await connections.qr(principal, connection_id)
    headers = {"Cache-Control": "no-store", "X-QR-Expires-At": qr.expires_at.isoformat()}
    if format == "png":
        return Response(qr_png(qr.code), media_type="image/png", headers=headers)
    if format == "svg":
        return Response(qr_svg(qr.code), media_type="image/svg+xml", headers=headers)
    return QrOut(
        code=qr.code,
        image=data_url(qr.code),
        expires_at=qr.expires_at,
        index=qr.index,
        total=qr.total,
    )


@router.post(
    "/{connection_id}/pairing-code",
    response_model=PairingCodeOut,
    responses=error_responses(409, 503),
)
async def pairing_code(
    connection_id: str,
    body: PairingCodeIn,
    principal: CurrentPrincipal,
    connections: Connections,
) -> PairingCodeOut:
    code = await connections.pairing_code(principal, connection_id, phone=body.phone)
    return PairingCodeOut(code=code.code, expires_at=code.expires_at)


@router.get("/{connection_id}/status", response_model=ConnectionStatus)
async def connection_status(
    connection_id: str, principal: CurrentPrincipal, connections: Connections
) -> ConnectionStatus:
    return ConnectionStatus.model_validate(await connections.get(principal, connection_id))


@router.get("/{connection_id}/events", response_model=PageOut[ConnectionLogEntry])
async def connection_events(
    connection_id: str,
    principal: CurrentPrincipal,
    connections: Connections,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> PageOut[ConnectionLogEntry]:
    page = await connections.events(principal, connection_id, limit=limit, cursor=cursor)
    return PageOut[ConnectionLogEntry](
        items=[ConnectionLogEntry.model_validate(r) for r in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/{connection_id}/stats", response_model=ConnectionStats)
async def connection_stats(
    connection_id: str, principal: CurrentPrincipal, connections: Connections
) -> ConnectionStats:
    return ConnectionStats.model_validate(await connections.stats(principal, connection_id))
