"""``/simulator``: play the phones and customers (only with the simulator engine)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status

from zapgate.api.deps import CurrentPrincipal, RuntimeDep
from zapgate.api.openapi import error_responses
from zapgate.api.schemas_connections import (
    SimBanIn,
    SimCallIn,
    SimCallOut,
    SimContactProfileIn,
    SimIncomingIn,
    SimIncomingOut,
    SimNumberIn,
    SimPairingIn,
    SimPresenceIn,
    SimReceiptIn,
    SimScanIn,
    SimSettingsIn,
)
from zapgate.services.simulation import SimulationService, simulation_or_404


async def get_simulation(runtime: RuntimeDep) -> SimulationService:
    return simulation_or_404(runtime.simulation)


Simulation = Annotated[SimulationService, Depends(get_simulation)]

# 404 everywhere when the engine is not the simulator; 409 when the simulated phone
# cannot do that now (no QR pending, not linked...).
router = APIRouter(
    prefix="/simulator", tags=["simulator"], responses=error_responses(404, 409, 503)
)
NO_CONTENT = status.HTTP_204_NO_CONTENT


@router.post("/connections/{connection_id}/scan", status_code=NO_CONTENT)
async def scan(
    connection_id: str, body: SimScanIn, principal: CurrentPrincipal, sim: Simulation
) -> Response:
    await sim.scan(principal, connection_id, phone=body.phone, push_name=body.push_name)
    return Response(status_code=NO_CONTENT)


@router.post("/connections/{connection_id}/enter-pairing-code", status_code=NO_CONTENT)
async def enter_pairing_code(
    connection_id: str, body: SimPairingIn, principal: CurrentPrincipal, sim: Simulation
) -> Response:
    await sim.enter_pairing_code(principal, connection_id, body.code)
    return Response(status_code=NO_CONTENT)


@router.post("/connections/{connection_id}/incoming", response_model=SimIncomingOut)
async def incoming(
    connection_id: str, body: SimIncomingIn, principal: CurrentPrincipal, sim: Simulation
) -> SimIncomingOut:
    wa_id = await sim.incoming(principal, connection_id, body.model_dump())
    return SimIncomingOut(wa_message_id=wa_id)


@router.post("/connections/{connection_id}/call", response_model=SimCallOut)
async def call(
    connection_id: str, body: SimCallIn, principal: CurrentPrincipal, sim: Simulation
) -> SimCallOut:
    """A customer calls this number (rejected at once when the connection rejects calls)."""
    answer = await sim.call(principal, connection_id, from_phone=body.from_, is_video=body.is_video)
    return SimCallOut(**answer)


@router.post("/connections/{connection_id}/presence", status_code=204)
async def presence(
    connection_id: str, body: SimPresenceIn, principal: CurrentPrincipal, sim: Simulation
) -> Response:
    """A customer comes online, goes offline, or types/records/pauses in a chat."""
    await sim.presence(
        principal, connection_id, from_phone=body.from_, presence=body.presence, group=body.group
    )
    return Response(status_code=204)


@router.get("/connections/{connection_id}/activity")
async def activity(
    connection_id: str, principal: CurrentPrincipal, sim: Simulation
) -> dict[str, Any]:
    """Read receipts and presence this connection sent, as the network saw them."""
    return await sim.activity(principal, connection_id)


@router.post("/connections/{connection_id}/receipt", status_code=NO_CONTENT)
async def receipt(
    connection_id: str, body: SimReceiptIn, principal: CurrentPrincipal, sim: Simulation
) -> Response:
    await sim.receipt(principal, connection_id, wa_message_id=body.wa_message_id, type=body.type)
    return Response(status_code=NO_CONTENT)


@router.post("/connections/{connection_id}/drop", status_code=NO_CONTENT)
async def drop(connection_id: str, principal: CurrentPrincipal, sim: Simulation) -> Response:
    await sim.drop(principal, connection_id)
    return Response(status_code=NO_CONTENT)


@router.post("/connections/{connection_id}/logout-from-phone", status_code=NO_CONTENT)
async def logout_from_phone(
    connection_id: str, principal: CurrentPrincipal, sim: Simulation
) -> Response:
    await sim.logout_from_phone(principal, connection_id)
    return Response(status_code=NO_CONTENT)


@router.post("/connections/{connection_id}/ban", status_code=NO_CONTENT)
async def ban(
    connection_id: str, body: SimBanIn, principal: CurrentPrincipal, sim: Simulation
) -> Response:
    await sim.ban(principal, connection_id, body.seconds)
    return Response(status_code=NO_CONTENT)


@router.post("/connections/{connection_id}/silence", status_code=NO_CONTENT)
async def silence(connection_id: str, principal: CurrentPrincipal, sim: Simulation) -> Response:
    """The session stops answering while still claiming to be connected."""
    await sim.silence(principal, connection_id, True)
    return Response(status_code=NO_CONTENT)


@router.get("/connections/{connection_id}/outbox")
async def outbox(
    connection_id: str, principal: CurrentPrincipal, sim: Simulation
) -> dict[str, Any]:
    return {"items": await sim.outbox(principal, connection_id)}


@router.patch("/settings")
async def settings(
    body: SimSettingsIn, principal: CurrentPrincipal, sim: Simulation
) -> dict[str, Any]:
    return sim.settings(principal, body.model_dump(exclude_unset=True))


@router.post("/numbers", status_code=NO_CONTENT)
async def set_number(body: SimNumberIn, principal: CurrentPrincipal, sim: Simulation) -> Response:
    """Say whether a number is on WhatsApp (``null`` returns it to the default rule)."""
    await sim.set_on_whatsapp(principal, body.phone, body.on_whatsapp)
    return Response(status_code=NO_CONTENT)


@router.post("/network/{up}", status_code=NO_CONTENT)
async def set_network(up: bool, principal: CurrentPrincipal, sim: Simulation) -> Response:
    await sim.set_network(principal, up)
    return Response(status_code=NO_CONTENT)


@router.post("/contacts/profile", status_code=NO_CONTENT)
async def contact_profile(
    body: SimContactProfileIn, principal: CurrentPrincipal, sim: Simulation
) -> Response:
    """A customer sets or removes their profile picture, or says they are a business."""
    fields = body.model_fields_set
    await sim.set_contact_profile(
        principal,
        body.phone,
        picture=body.picture.model_dump() if body.picture is not None else None,
        keep_picture="picture" not in fields,
        is_business=body.is_business,
    )
    return Response(status_code=NO_CONTENT)
