"""What group operations take and answer (the group part of the Engine protocol).

Kept beside ``base.py`` (which re-exports them) so the protocol module stays readable;
the neonize wire protocol resolves these names through ``base``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

INVITE_URL_PREFIX = "https://chat.whatsapp.com/"


class GroupField(StrEnum):
    """What a ``group.updated`` change is about."""

    SUBJECT = "subject"
    DESCRIPTION = "description"
    PICTURE = "picture"


@dataclass(frozen=True, slots=True)
class GroupUpdate:
    """Fields to change; ``None`` leaves one as it is (an empty description clears it)."""

    subject: str | None = None
    description: str | None = None
    picture: bytes | None = None
    """A JPEG; WhatsApp keeps its own copy."""


@dataclass(frozen=True, slots=True)
class ParticipantResult:
    """One phone's outcome of a participants change; ``error`` is a stable code."""

    phone: str
    ok: bool
    jid: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class GroupInvite:
    code: str
    url: str


def invite_code(value: str) -> str:
    """The code of an invite given as a code or as a ``chat.whatsapp.com`` link."""
    text = value.strip()
    for prefix in (INVITE_URL_PREFIX, "http://chat.whatsapp.com/", "chat.whatsapp.com/"):
        if text.startswith(prefix):
            return text[len(prefix) :].strip("/")
    return text
