"""Contacts' presence: online/offline with their last seen, and typing, recording or
paused in a chat, as ``presence.updated`` events.

A supervisor listener beside the inbound recorder. Presence changes nothing stored
(no contact is created for it): each batch appends its events in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zapgate.domain.events import EventType
from zapgate.domain.phones import LID_SERVER, USER_SERVER
from zapgate.engines.events import ChatPresenceUpdate, EngineEvent, PresenceUpdate
from zapgate.events.log import append_event
from zapgate.services.fence import LeaseFence
from zapgate.store.db import Database
from zapgate.util.clock import Clock


def _who(jid: str, phone: str | None, lid: str | None) -> dict[str, Any]:
    user, _, server = jid.partition("@")
    if phone is None and server == USER_SERVER:
        phone = user.split(":", 1)[0]
    if lid is None and server == LID_SERVER:
        lid = jid
    return {"jid": f"{phone}@{USER_SERVER}" if phone else jid, "phone": phone, "lid": lid}


def presence_payload(event: PresenceUpdate | ChatPresenceUpdate) -> dict[str, Any]:
    """The data of a ``presence.updated`` event: who, in which chat, and the presence
    (``available``, ``unavailable``, ``typing``, ``recording``, ``paused``)."""
    if isinstance(event, PresenceUpdate):
        who = _who(event.jid, None, None)
        return {
            **who,
            "chat_jid": who["jid"],
            "presence": "available" if event.available else "unavailable",
            "last_seen": event.last_seen.isoformat() if event.last_seen else None,
        }
    who = _who(event.sender_jid, event.sender_phone, event.sender_lid)
    return {
        **who,
        "chat_jid": event.chat_jid,
        "presence": event.presence.value,
        "last_seen": None,
    }


class PresenceRecorder:
    def __init__(self, db: Database, clock: Clock, fence: LeaseFence | None = None) -> None:
        self._db = db
        self._clock = clock
        self._fence = fence or LeaseFence()

    async def __call__(
        self, organization_id: str, connection_id: str, events: Sequence[EngineEvent]
    ) -> None:
        found = [e for e in events if isinstance(e, PresenceUpdate | ChatPresenceUpdate)]
        if not found:
            return
        now = self._clock.now()
        epoch = self._fence.epoch(connection_id)
        async with self._db.write() as s:
            if not await self._fence.holds(s, connection_id, epoch):
                return
            for event in found:
                await append_event(
                    s,
                    organization_id=organization_id,
                    connection_id=connection_id,
                    type=EventType.PRESENCE_UPDATED,
                    data=presence_payload(event),
                    created_at=now,
                )
