"""``/chat/whatsappNumbers``: whether numbers, groups and LIDs are on WhatsApp, one
answer per entry as Evolution's ``whatsappNumber`` gives them.

Each entry is read as Evolution's ``createJid`` reads it: a group JID (or 18 digits and
more, or a hyphenated id of 24 characters and more) is a group, answered by its
description (``name`` its subject); a broadcast is never on WhatsApp; a LID is taken as
on WhatsApp; anything else is a phone, asked of WhatsApp (``name`` the contact's, when
known). An entry that is no phone at all is ``exists: false``, not an error. Evolution
answers broadcasts, then groups, then phones, each in the order asked.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from zapgate.domain.errors import DomainError, Invalid
from zapgate.domain.phones import normalize_phone

from .deps import Caller, body_of, caller, instance_of, services

router = APIRouter()
Who = Annotated[Caller, Depends(caller)]


class NumbersIn(BaseModel):
    numbers: list[str] = Field(min_length=1)


def evolution_jid(number: str) -> str:
    """The JID Evolution makes of a number as typed (its ``createJid``)."""
    value = re.sub(r":\d+", "", number, count=1)
    if any(s in value for s in ("@g.us", "@s.whatsapp.net", "@lid", "@broadcast")):
        return value
    value = re.sub(r"[\s+()]", "", value).split(":")[0].split("@")[0]
    if "-" in value and len(value) >= 24:
        return re.sub(r"[^\d-]", "", value) + "@g.us"
    digits = re.sub(r"\D", "", value)
    return f"{digits}@g.us" if len(digits) >= 18 else f"{digits}@s.whatsapp.net"


def _entry(jid: str, exists: bool, number: str, **extra: Any) -> dict[str, Any]:
    return {"jid": jid, "exists": exists, "number": number, **extra}


async def _group(request: Request, who: Caller, instance_id: str, jid: str, number: str) -> Any:
    try:
        group = await services(request).messaging.groups.get(who.principal, instance_id, jid)
    except DomainError:
        return _entry(jid, False, number)
    return _entry(group["jid"], True, number, name=group["subject"])


async def _numbers(request: Request, instance: str, who: Caller) -> list[dict[str, Any]]:
    row = await instance_of(request, who, instance)
    body = await body_of(request, NumbersIn)
    lookups = services(request).messaging.lookups
    broadcasts: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    # Each other entry: as typed, its JID, and its phone (None: a LID, or no phone).
    users: list[tuple[str, str, str | None]] = []
    for number in body.numbers:
        jid = evolution_jid(number)
        if jid.endswith("@g.us"):
            groups.append(await _group(request, who, row.id, jid, number))
        elif "@broadcast" in jid:
            broadcasts.append(_entry(jid, False, number))
        elif jid.endswith("@lid"):
            users.append((number, jid, None))
        else:
            try:
                users.append((number, jid, normalize_phone(jid)))
            except Invalid:
                users.append((number, jid, None))
    phones = list(dict.fromkeys(p for _, _, p in users if p is not None))
    checks = await lookups.check_numbers(who.principal, row.id, phones) if phones else []
    answers = {c["phone"]: c for c in checks}
    found: list[tuple[str, str, bool]] = []
    for number, jid, phone in users:
        if phone is None:
            # A LID is taken as on WhatsApp (Evolution's answer); a non-number is not.
            found.append((number, jid, jid.endswith("@lid")))
        else:
            check = answers[phone]
            found.append((number, check["jid"] or jid, bool(check["on_whatsapp"])))
    names = await lookups.contact_names(who.principal, [jid for _, jid, _ in found])
    answered = []
    for number, jid, exists in found:
        extra: dict[str, Any] = {"name": names[jid]} if jid in names else {}
        if jid.endswith("@lid"):
            extra["lid"] = "lid"
        answered.append(_entry(jid, exists, number, **extra))
    return broadcasts + groups + answered


@router.post("/chat/whatsappNumbers/{instance}")
async def whatsapp_numbers(request: Request, instance: str, who: Who) -> Any:
    return await _numbers(request, instance, who)


@router.post("/chat/checkIsWhatsappNumber/{instance}")
async def check_is_whatsapp_number(request: Request, instance: str, who: Who) -> Any:
    # The name the official Python client calls.
    return await _numbers(request, instance, who)
