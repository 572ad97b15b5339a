"""``/group/...``: Evolution's group routes on zapgate's group services.

Like Evolution, ``groupJid`` is read from the body or the query string and gains
``@g.us`` when given bare; the changes answer 201 and the reads 200, with Evolution's
(Baileys') shapes. What zapgate does not store (creation time, subject owner,
announce/restrict settings) is null or false.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from zapgate.domain.errors import Invalid
from zapgate.domain.groups import ParticipantAction

from .deps import Caller, body_of, caller, instance_of, services

router = APIRouter()
Who = Annotated[Caller, Depends(caller)]

Phones = Annotated[list[Annotated[str, Field(min_length=10)]], Field(min_length=1)]


class CreateIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    subject: str = Field(min_length=1)
    participants: Phones
    description: str | None = Field(default=None, min_length=1)
    promoteParticipants: bool = False


class SubjectIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    groupJid: str | None = None
    subject: str = Field(min_length=1)


class DescriptionIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    groupJid: str | None = None
    description: str = Field(min_length=1)


class ParticipantIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    groupJid: str | None = None
    action: ParticipantAction
    participants: Phones


class JidIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    groupJid: str | None = None


# ------------------------------------------------------------------ shapes


def _admin(p: dict[str, Any]) -> str | None:
    if p.get("is_super_admin"):
        return "superadmin"
    return "admin" if p.get("is_admin") else None


def participant_record(p: dict[str, Any]) -> dict[str, Any]:
    """A participant as Baileys describes it: the phone JID when known (the LID
    beside it), ``admin`` one of ``superadmin``/``admin``/null."""
    phone_jid = f"{p['phone']}@s.whatsapp.net" if p.get("phone") else None
    return {
        "id": phone_jid or p.get("jid") or p.get("lid"),
        "jid": p.get("jid"),
        "phoneNumber": phone_jid,
        "lid": p.get("lid"),
        "admin": _admin(p),
        # Not Baileys': pyevolutionapi reads the roles from these.
        "isAdmin": bool(p.get("is_admin") or p.get("is_super_admin")),
        "isSuperAdmin": bool(p.get("is_super_admin")),
    }


def group_record(g: dict[str, Any], *, participants: bool) -> dict[str, Any]:
    """A group as findGroupInfos/fetchAllGroups answer it; ``g`` is a stored group as
    the services answer it (the list's or the detail's names)."""
    members = [participant_record(p) for p in g.get("participants") or []]
    owner = next((m["id"] for m in members if m["admin"] == "superadmin"), None)
    record: dict[str, Any] = {
        "id": g["jid"],
        "subject": g.get("subject", g.get("name")) or "",
        "subjectOwner": None,
        "subjectTime": None,
        "pictureUrl": None,
        "size": len(members),
        "creation": None,
        "owner": owner,
        "desc": g.get("description", g.get("topic")),
        "descId": None,
        "restrict": False,
        "announce": False,
        "isCommunity": False,
        "isCommunityAnnounce": False,
        "linkedParent": None,
    }
    if participants:
        record["participants"] = members
    return record


_RESULT_STATUS = {"already_member": "409", "not_member": "404", "not_on_whatsapp": "404"}


def _participant_result(r: dict[str, Any]) -> dict[str, Any]:
    """One participant of updateParticipant: Baileys' ``{status, jid}`` (``"200"`` when
    done, else WhatsApp's code); zapgate's reason in ``error``."""
    error = r.get("error")
    if r.get("ok"):
        status = "200"
    elif isinstance(error, str) and error.isdigit():
        status = error
    else:
        status = _RESULT_STATUS.get(str(error), "400")
    return {
        "status": status,
        "jid": r.get("jid") or f"{r['phone']}@s.whatsapp.net",
        "error": None if r.get("ok") else error,
    }


# ------------------------------------------------------------------ the group's JID


def group_jid(body: str | None, query: str | None) -> str:
    """Evolution's rule: the body's ``groupJid``, else the query's; bare digits gain
    ``@g.us``."""
    jid = (body or query or "").strip()
    if not jid:
        raise Invalid(
            "The group id needs to be informed in the query",
            code="group_jid_required",
            details=[
                "The group id needs to be informed in the query",
                'ex: "groupJid=120362@g.us"',
            ],
        )
    return jid if jid.endswith("@g.us") else jid + "@g.us"


async def _resolved(
    request: Request, who: Caller, instance_id: str, numbers: list[str]
) -> list[str]:
    """The members' JIDs as WhatsApp knows them: a Brazilian mobile is asked with or
    without the ninth digit, as Evolution's createGroup does."""
    instances = services(request).instances
    return [await instances.recipient(who.principal, instance_id, n) for n in numbers]


def _created(body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=201)


# ------------------------------------------------------------------ reads


@router.get("/group/fetchAllGroups/{instance}")
async def fetch_all_groups(
    request: Request, instance: str, who: Who, getParticipants: str = "false"
) -> Any:
    row = await instance_of(request, who, instance)
    flag = getParticipants.strip().lower()
    if flag not in ("true", "false"):
        raise Invalid('getParticipants must be "true" or "false"', code="validation_error")
    groups = await services(request).messaging.lookups.groups(who.principal, row.id)
    return [group_record(g, participants=flag == "true") for g in groups]


@router.get("/group/findGroupInfos/{instance}")
async def find_group_infos(
    request: Request, instance: str, who: Who, groupJid: str | None = None
) -> Any:
    row = await instance_of(request, who, instance)
    jid = group_jid(None, groupJid)
    group = await services(request).messaging.groups.get(who.principal, row.id, jid)
    return group_record(group, participants=True)


@router.get("/group/participants/{instance}")
async def find_participants(
    request: Request, instance: str, who: Who, groupJid: str | None = None
) -> Any:
    row = await instance_of(request, who, instance)
    jid = group_jid(None, groupJid)
    group = await services(request).messaging.groups.get(who.principal, row.id, jid)
    return {
        "participants": [
            {**participant_record(p), "name": None, "imgUrl": None}
            for p in group.get("participants") or []
        ]
    }


@router.get("/group/inviteCode/{instance}")
async def invite_code(
    request: Request, instance: str, who: Who, groupJid: str | None = None
) -> Any:
    row = await instance_of(request, who, instance)
    jid = group_jid(None, groupJid)
    link = await services(request).messaging.groups.invite(who.principal, row.id, jid)
    return {"inviteUrl": link["url"], "inviteCode": link["code"]}


@router.get("/group/acceptInviteCode/{instance}")
async def accept_invite_code(
    request: Request, instance: str, who: Who, inviteCode: str | None = None
) -> Any:
    row = await instance_of(request, who, instance)
    code = (inviteCode or "").strip()
    if not code:
        raise Invalid(
            "The group invite code id needs to be informed in the query",
            code="invite_code_required",
            details=[
                "The group invite code id needs to be informed in the query",
                'ex: "inviteCode=F1EX5QZxO181L3TMVP31gY" (Obtained from group join link)',
            ],
        )
    group = await services(request).messaging.groups.join(who.principal, row.id, code)
    return {"accepted": True, "groupJid": group["jid"]}


# ------------------------------------------------------------------ changes


@router.post("/group/create/{instance}")
async def create_group(request: Request, instance: str, who: Who) -> JSONResponse:
    row = await instance_of(request, who, instance)
    body = await body_of(request, CreateIn)
    groups = services(request).messaging.groups
    phones = await _resolved(request, who, row.id, body.participants)
    group = await groups.create(who.principal, row.id, subject=body.subject, phones=phones)
    if body.description is not None:
        group = await groups.update(
            who.principal, row.id, group["jid"], description=body.description
        )
    if body.promoteParticipants:
        mine = {row.phone} if row.phone else set()
        others = [p["phone"] for p in group["participants"] if p.get("phone") not in mine]
        if others:
            changed = await groups.participants(
                who.principal,
                row.id,
                group["jid"],
                action=ParticipantAction.PROMOTE,
                phones=[str(p) for p in others],
            )
            group = changed["group"]
    return _created(group_record(group, participants=True))


@router.post("/group/updateParticipant/{instance}")
async def update_participant(
    request: Request, instance: str, who: Who, groupJid: str | None = None
) -> JSONResponse:
    row = await instance_of(request, who, instance)
    body = await body_of(request, ParticipantIn)
    jid = group_jid(body.groupJid, groupJid)
    phones = body.participants
    if body.action is ParticipantAction.ADD:
        phones = await _resolved(request, who, row.id, phones)
    answer = await services(request).messaging.groups.participants(
        who.principal, row.id, jid, action=body.action, phones=phones
    )
    return _created({"updateParticipants": [_participant_result(r) for r in answer["results"]]})


@router.post("/group/revokeInviteCode/{instance}")
async def revoke_invite_code(
    request: Request, instance: str, who: Who, groupJid: str | None = None
) -> JSONResponse:
    row = await instance_of(request, who, instance)
    body = await body_of(request, JidIn)
    jid = group_jid(body.groupJid, groupJid)
    link = await services(request).messaging.groups.invite(who.principal, row.id, jid, revoke=True)
    return _created({"revoked": True, "inviteCode": link["code"]})


@router.post("/group/updateGroupSubject/{instance}")
async def update_subject(
    request: Request, instance: str, who: Who, groupJid: str | None = None
) -> JSONResponse:
    row = await instance_of(request, who, instance)
    body = await body_of(request, SubjectIn)
    jid = group_jid(body.groupJid, groupJid)
    await services(request).messaging.groups.update(
        who.principal, row.id, jid, subject=body.subject
    )
    return _created({"update": "success"})


@router.post("/group/updateGroupDescription/{instance}")
async def update_description(
    request: Request, instance: str, who: Who, groupJid: str | None = None
) -> JSONResponse:
    row = await instance_of(request, who, instance)
    body = await body_of(request, DescriptionIn)
    jid = group_jid(body.groupJid, groupJid)
    await services(request).messaging.groups.update(
        who.principal, row.id, jid, description=body.description
    )
    return _created({"update": "success"})


@router.delete("/group/leaveGroup/{instance}")
async def leave_group(
    request: Request, instance: str, who: Who, groupJid: str | None = None
) -> Any:
    row = await instance_of(request, who, instance)
    jid = group_jid(None, groupJid)
    await services(request).messaging.groups.leave(who.principal, row.id, jid)
    return {"groupJid": jid, "leave": True}
