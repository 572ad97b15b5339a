"""``/group/...``: the groups zapgate knows (read only for now)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from zapgate.domain.errors import Invalid, NotFound

from .deps import Caller, caller, instance_of, services

router = APIRouter()
Who = Annotated[Caller, Depends(caller)]


def _group(g: dict[str, Any], participants: bool) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": g["jid"],
        "subject": g.get("name") or "",
        "subjectOwner": None,
        "subjectTime": None,
        "pictureUrl": None,
        "size": len(g.get("participants") or []),
        "creation": None,
        "owner": None,
        "desc": g.get("topic"),
        "descId": None,
        "restrict": False,
        "announce": False,
    }
    if participants:
        record["participants"] = [
            {
                "id": p.get("jid"),
                "jid": p.get("jid"),
                "lid": p.get("lid"),
                "admin": "superadmin"
                if p.get("is_super_admin")
                else "admin"
                if p.get("is_admin")
                else None,
            }
            for p in g.get("participants") or []
        ]
    return record


@router.get("/group/fetchAllGroups/{instance}")
async def fetch_all_groups(
    request: Request, instance: str, who: Who, getParticipants: str = "false"
) -> Any:
    row = await instance_of(request, who, instance)
    groups = await services(request).messaging.lookups.groups(who.principal, row.id)
    with_participants = getParticipants.strip().lower() == "true"
    return [_group(g, with_participants) for g in groups]


@router.get("/group/findGroupInfos/{instance}")
async def find_group_infos(request: Request, instance: str, who: Who, groupJid: str = "") -> Any:
    row = await instance_of(request, who, instance)
    if not groupJid.endswith("@g.us"):
        raise Invalid("groupJid must be a group JID (…@g.us)", code="invalid_jid")
    groups = await services(request).messaging.lookups.groups(who.principal, row.id)
    for g in groups:
        if g["jid"] == groupJid:
            return _group(g, True)
    raise NotFound("group not found", code="group_not_found")
