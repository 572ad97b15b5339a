"""Group vocabulary shared by the API, the services and the engines."""

from __future__ import annotations

from enum import StrEnum


class ParticipantAction(StrEnum):
    """What ``POST /connections/{id}/groups/{jid}/participants`` does to each phone."""

    ADD = "add"
    REMOVE = "remove"
    PROMOTE = "promote"
    DEMOTE = "demote"
