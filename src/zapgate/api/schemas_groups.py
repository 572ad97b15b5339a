"""Request and response bodies of ``/connections/{id}/groups/...`` and the simulator's
``group-action``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from zapgate.api.schemas import Input, Output
from zapgate.api.schemas_connections import FromWhatsApp

Phones = Annotated[list[Annotated[str, Field(max_length=64)]], Field(min_length=1, max_length=50)]
Subject = Annotated[str, Field(min_length=1, max_length=100)]
Description = Annotated[str, Field(max_length=2048)]


class GroupCreate(Input):
    subject: Subject
    participants: Phones


class GroupUpdateIn(Input):
    subject: Subject | None = None
    description: Description | None = None
    """An empty string clears the description."""
    picture_media_id: Annotated[str, Field(max_length=64)] | None = None
    """A JPEG uploaded with ``POST /media``."""


class ParticipantsIn(Input):
    action: Literal["add", "remove", "promote", "demote"]
    phones: Phones


class JoinIn(Input):
    code: Annotated[str, Field(min_length=1, max_length=200)]
    """The invite code, or the whole ``https://chat.whatsapp.com/...`` link."""


class ParticipantOut(Output):
    phone: str | None
    jid: str | None
    lid: str | None
    is_admin: bool
    is_super_admin: bool


class GroupOut(Output):
    id: str
    connection_id: str
    jid: str
    subject: str | None
    description: str | None
    picture: str | None
    """A URL of this API (``/api/v1/media/{id}``) when set through zapgate, else null."""
    participants: list[ParticipantOut]
    updated_at: datetime


class ParticipantResultOut(Output):
    phone: str
    jid: str | None
    ok: bool
    error: str | None
    """``not_on_whatsapp``, ``already_member``, ``not_member`` or WhatsApp's own code."""


class ParticipantsOut(Output):
    group: GroupOut
    results: list[ParticipantResultOut]


class InviteOut(Output):
    code: str
    url: str


class SimGroupActionIn(FromWhatsApp):
    """Another member of the group acts: WhatsApp's text, NUL characters and all."""

    group: Annotated[str, Field(min_length=1, max_length=128)]
    actor: Annotated[str, Field(min_length=1, max_length=64)]
    """The member (a phone) who makes the change."""
    action: Literal["subject", "description", "add", "remove", "promote", "demote"]
    value: Annotated[str, Field(max_length=2048)] | None = None
    """The new subject or description."""
    phones: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=50)] = []


class SimGroupActionOut(Output):
    results: list[ParticipantResultOut]
