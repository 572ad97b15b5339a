"""``/instance/...``: create, connect (QR or pairing code), state, restart, logout,
delete, list, presence."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from zapgate.domain.errors import Forbidden, Gone, Invalid, NotFound, Unauthorized
from zapgate.services.qr import qr_png

from .chat import OWN_PRESENCE, OwnPresenceIn
from .deps import Caller, body_of, caller, global_caller, instance_of, services
from .hooks import WebhookIn, save_webhook
from .settings import NAMES, apply, parse_settings, settings_of
from .shapes import CLOSE, OPEN, connection_state, owner_jid

if TYPE_CHECKING:
    # Rows handed over by the services, named for type checking only.
    from zapgate.store.tables.connections import ConnectionRow

router = APIRouter()
Who = Annotated[Caller, Depends(caller)]
Global = Annotated[Caller, Depends(global_caller)]

SETTLE_SECONDS = 5.0
"""How long a connect waits for the engine to show a QR code or resume the session."""


class InstanceCreate(BaseModel):
    model_config = ConfigDict(extra="allow")
    instanceName: str
    token: str | None = None
    qrcode: bool = False
    number: str | None = None
    integration: str | None = None
    webhook: WebhookIn | None = None


def instance_info(row: ConnectionRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "connectionStatus": connection_state(row.state),
        "ownerJid": owner_jid(row.jid, row.phone),
        "profileName": row.push_name,
        "profilePicUrl": None,
        "integration": "WHATSAPP-BAILEYS",
        "number": row.phone,
        "businessId": None,
        "token": None,
        "clientName": "zapgate",
        "disconnectionReasonCode": None,
        "disconnectionObject": row.error_code,
        "disconnectionAt": row.disconnected_at.isoformat() if row.disconnected_at else None,
        "createdAt": row.created_at.isoformat(),
        "updatedAt": row.updated_at.isoformat(),
        "Setting": settings_of(row),
    }


async def _qrcode(
    request: Request, who: Caller, row: ConnectionRow, number: str | None
) -> dict[str, Any]:
    """Evolution's ``{pairingCode, code, base64, count}`` for a connection linking now."""
    found = services(request)
    if connection_state(row.state) == CLOSE:
        row = await found.instances.start_settled(who.principal, row.id, timeout=SETTLE_SECONDS)
    pairing: str | None = None
    if number:
        code = await found.connections.pairing_code(who.principal, row.id, phone=number)
        pairing = code.code.replace("-", "")
    try:
        qr = await found.connections.qr(who.principal, row.id)
    except (NotFound, Gone):
        # No code to scan now (a pairing code is shown instead, or the last one expired).
        return {"pairingCode": pairing, "code": None, "base64": None, "count": 0}
    image = "data:image/png;base64," + base64.b64encode(qr_png(qr.code)).decode()
    return {"pairingCode": pairing, "code": qr.code, "base64": image, "count": qr.index}


@router.post("/instance/create")
async def create(request: Request, who: Global) -> JSONResponse:
    body = await body_of(request, InstanceCreate)
    found = services(request)
    if body.integration not in (None, "WHATSAPP-BAILEYS"):
        raise Invalid(
            "only the WHATSAPP-BAILEYS integration is available", code="invalid_integration"
        )
    try:
        await found.instances.by_name(who.principal, body.instanceName)
    except NotFound:
        pass
    else:
        # Evolution's guard answers 403 here.
        raise Forbidden(f'This name "{body.instanceName}" is already in use.', code="name_in_use")
    # Evolution takes the settings at creation too: their shape is checked first, their
    # values when applied; a refusal there (or of the token or webhook) removes the
    # connection again, so a corrected retry does not meet `name_in_use`.
    extra = {k: v for k, v in (body.model_extra or {}).items() if k in NAMES}
    given = parse_settings(extra) if extra else None
    row = await found.connections.create(who.principal, name=body.instanceName)
    hook = None
    try:
        # Evolution makes a token when given an empty one, as when given none.
        token = await found.instances.issue(who.principal, row.id, token=body.token or None)
        if given is not None:
            await apply(request, who, row, given)
        if body.webhook is not None and body.webhook.url:
            hook = await save_webhook(request, who, row, body.webhook)
    except Exception:
        await found.connections.delete(who.principal, row.id)
        raise
    qrcode = await _qrcode(request, who, row, body.number) if body.qrcode else None
    row = await found.connections.get(who.principal, row.id)
    answer = {
        "instance": {
            "instanceName": row.name,
            "instanceId": row.id,
            "integration": "WHATSAPP-BAILEYS",
            "webhookWaBusiness": None,
            "accessTokenWaBusiness": "",
            "status": connection_state(row.state),
        },
        "hash": token,
        "webhook": {
            "webhookUrl": hook.url if hook else None,
            "webhookHeaders": None,
            "webhookByEvents": bool(hook and (hook.options or {}).get("by_events")),
            "webhookBase64": bool(hook and (hook.options or {}).get("base64")),
        },
        "websocket": {"enabled": False},
        "rabbitmq": {"enabled": False},
        "nats": {"enabled": False},
        "sqs": {"enabled": False},
        "settings": settings_of(row),
        "qrcode": qrcode,
    }
    return JSONResponse(answer, status_code=201)


@router.get("/instance/connect/{instance}")
async def connect(request: Request, instance: str, who: Who, number: str | None = None) -> Any:
    row = await instance_of(request, who, instance)
    if connection_state(row.state) == OPEN:
        return {"instance": {"instanceName": row.name, "state": OPEN}}
    return await _qrcode(request, who, row, number)


@router.get("/instance/connectionState/{instance}")
async def connection_state_route(request: Request, instance: str, who: Who) -> Any:
    row = await instance_of(request, who, instance)
    return {"instance": {"instanceName": row.name, "state": connection_state(row.state)}}


@router.post("/instance/restart/{instance}")
async def restart(request: Request, instance: str, who: Who) -> Any:
    row = await instance_of(request, who, instance)
    found = services(request)
    if connection_state(row.state) == CLOSE:
        raise Invalid(f'The "{row.name}" instance is not connected', code="connection_not_running")
    row = await found.connections.reconnect(who.principal, row.id)
    return {"instance": {"instanceName": row.name, "state": connection_state(row.state)}}


@router.delete("/instance/logout/{instance}")
async def logout(request: Request, instance: str, who: Who) -> Any:
    row = await instance_of(request, who, instance)
    if connection_state(row.state) == CLOSE and not row.linked:
        raise Invalid(f'The "{row.name}" instance is not connected', code="connection_not_running")
    await services(request).connections.logout(who.principal, row.id)
    return {"status": "SUCCESS", "error": False, "response": {"message": "Instance logged out"}}


@router.delete("/instance/delete/{instance}")
async def delete(request: Request, instance: str, who: Who) -> Any:
    row = await instance_of(request, who, instance)
    await services(request).connections.delete(who.principal, row.id)
    return {"status": "SUCCESS", "error": False, "response": {"message": "Instance deleted"}}


@router.get("/instance/fetchInstances")
async def fetch_instances(
    request: Request,
    who: Who,
    instanceName: str | None = None,
    instanceId: str | None = None,
    number: str | None = None,
) -> Any:
    found = services(request)
    rows: list[ConnectionRow] = []
    cursor: str | None = None
    while True:
        page = await found.connections.find(who.principal, limit=200, cursor=cursor)
        rows.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    if who.instance_id is not None:
        rows = [r for r in rows if r.id == who.instance_id]
    if instanceName:
        rows = [r for r in rows if r.name == instanceName]
    if instanceId:
        rows = [r for r in rows if r.id == instanceId]
    if number:
        digits = "".join(ch for ch in number if ch.isdigit())
        rows = [r for r in rows if r.phone == digits]
    asked = instanceId or number or instanceName
    if asked and not rows:
        # Evolution answers 404 for an instance a global key asks for and does not
        # find, 401 when an instance token names another one.
        if who.is_global:
            raise NotFound(f'Instance "{asked}" not found', code="connection_not_found")
        if instanceName or instanceId:
            raise Unauthorized("Unauthorized", code="instance_token_mismatch")
    return [instance_info(r) for r in rows]


@router.post("/instance/setPresence/{instance}")
async def set_presence(request: Request, instance: str, who: Who) -> JSONResponse:
    """The number shown online (``available``) or offline (``unavailable``)."""
    row = await instance_of(request, who, instance)
    body = await body_of(request, OwnPresenceIn)
    if body.presence not in OWN_PRESENCE:
        raise Invalid(
            "presence must be available or unavailable (typing is /chat/sendPresence)",
            code="invalid_presence",
        )
    await services(request).connections.set_presence(
        who.principal, row.id, OWN_PRESENCE[body.presence]
    )
    return JSONResponse({"presence": body.presence}, status_code=201)
