"""``/connections/{id}/groups/...``: groups of a connection; and the simulator's
``group-action`` (another member changes a group)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status

from zapgate.api.deps import CurrentPrincipal, RuntimeDep
from zapgate.api.routes.simulator import Simulation
from zapgate.api.schemas_groups import (
    GroupCreate,
    GroupOut,
    GroupUpdateIn,
    InviteOut,
    JoinIn,
    ParticipantsIn,
    ParticipantsOut,
    SimGroupActionIn,
    SimGroupActionOut,
)
from zapgate.engines.group_types import ParticipantAction
from zapgate.services.groups import GroupService


async def get_groups(runtime: RuntimeDep) -> GroupService:
    return runtime.messaging.groups


Groups = Annotated[GroupService, Depends(get_groups)]

router = APIRouter(prefix="/connections/{connection_id}/groups", tags=["groups"])
simulator_router = APIRouter(prefix="/simulator", tags=["simulator"])


@router.post("", response_model=GroupOut, status_code=status.HTTP_201_CREATED)
async def create_group(
    connection_id: str, body: GroupCreate, principal: CurrentPrincipal, groups: Groups
) -> dict[str, Any]:
    return await groups.create(
        principal, connection_id, subject=body.subject, phones=body.participants
    )


@router.post("/join", response_model=GroupOut)
async def join_group(
    connection_id: str, body: JoinIn, principal: CurrentPrincipal, groups: Groups
) -> dict[str, Any]:
    return await groups.join(principal, connection_id, body.code)


@router.get("/{jid}", response_model=GroupOut)
async def get_group(
    connection_id: str, jid: str, principal: CurrentPrincipal, groups: Groups
) -> dict[str, Any]:
    return await groups.get(principal, connection_id, jid)


@router.patch("/{jid}", response_model=GroupOut)
async def update_group(
    connection_id: str, jid: str, body: GroupUpdateIn, principal: CurrentPrincipal, groups: Groups
) -> dict[str, Any]:
    return await groups.update(
        principal,
        connection_id,
        jid,
        subject=body.subject,
        description=body.description,
        picture_media_id=body.picture_media_id,
    )


@router.post("/{jid}/participants", response_model=ParticipantsOut)
async def update_participants(
    connection_id: str,
    jid: str,
    body: ParticipantsIn,
    principal: CurrentPrincipal,
    groups: Groups,
) -> dict[str, Any]:
    return await groups.participants(
        principal, connection_id, jid, action=ParticipantAction(body.action), phones=body.phones
    )


@router.get("/{jid}/invite", response_model=InviteOut)
async def get_invite(
    connection_id: str, jid: str, principal: CurrentPrincipal, groups: Groups
) -> dict[str, str]:
    return await groups.invite(principal, connection_id, jid)


@router.post("/{jid}/invite/revoke", response_model=InviteOut)
async def revoke_invite(
    connection_id: str, jid: str, principal: CurrentPrincipal, groups: Groups
) -> dict[str, str]:
    """A new invite link; the old one stops working."""
    return await groups.invite(principal, connection_id, jid, revoke=True)


@router.post("/{jid}/leave", status_code=status.HTTP_204_NO_CONTENT)
async def leave_group(
    connection_id: str, jid: str, principal: CurrentPrincipal, groups: Groups
) -> Response:
    await groups.leave(principal, connection_id, jid)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@simulator_router.post(
    "/connections/{connection_id}/group-action", response_model=SimGroupActionOut
)
async def group_action(
    connection_id: str, body: SimGroupActionIn, principal: CurrentPrincipal, sim: Simulation
) -> dict[str, Any]:
    """Another member of a group changes it; this connection hears it from WhatsApp."""
    results = await sim.group_action(
        principal,
        connection_id,
        group=body.group,
        actor=body.actor,
        action=body.action,
        value=body.value,
        phones=body.phones,
    )
    return {"results": results}
