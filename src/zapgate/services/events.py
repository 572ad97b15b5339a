"""Events of one organization: the pulled log and live streams, tenancy checked here.

Reading events needs the ``manager`` role: the stream carries every message of the
organization, while an ``agent`` only sees the chats assigned to them in the inbox.
A live stream keeps the credential that opened it and ends when that no longer holds,
or no longer carries the role (``events/guard.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from zapgate.domain.errors import Invalid
from zapgate.domain.events import ALL_EVENT_TYPES, Event
from zapgate.domain.pages import MAX_INT64
from zapgate.domain.roles import Role
from zapgate.events.guard import Guard
from zapgate.events.log import list_events
from zapgate.events.stream import EventStreams, Follower
from zapgate.services.context import Principal
from zapgate.store.db import Database
from zapgate.store.pagination import Page, check_limit, decode_cursor, encode_cursor


def parse_types(values: Iterable[str] | None, *, allow_all: bool = False) -> list[str] | None:
    """Event types from ``types=a,b`` and/or repeated parameters; unknown ones are a 422."""
    if values is None:
        return None
    found: list[str] = []
    for value in values:
        for part in value.split(","):
            name = part.strip()
            if not name:
                continue
            if name not in ALL_EVENT_TYPES and not (allow_all and name == "*"):
                raise Invalid(
                    f"unknown event type {name!r}",
                    code="unknown_event_type",
                    details={"known": sorted(ALL_EVENT_TYPES)},
                )
            if name not in found:
                found.append(name)
    return found or None


def parse_since(value: str | int | None) -> int | None:
    """``since`` / ``Last-Event-ID``: a non-negative event id."""
    if value is None or value == "":
        return None
    try:
        since = int(value)
    except (TypeError, ValueError) as exc:
        raise Invalid("since must be an event id (an integer)", code="invalid_since") from exc
    if since < 0:
        raise Invalid("since must not be negative", code="invalid_since")
    if since > MAX_INT64:
        raise Invalid(f"since must be at most {MAX_INT64}", code="invalid_since")
    return since


class Credential(Protocol):
    """What opened a stream (an access token, an API key, a panel session)."""

    @property
    def expires_at(self) -> datetime | None:
        """When it ends by itself; None: never."""

    async def check(self) -> Principal:
        """Its principal now, as a request would be authenticated; raises
        ``Unauthorized`` once it was revoked, expired or its user deleted."""


def _guard(credential: Credential, role: Role) -> Guard:
    async def check() -> None:
        (await credential.check()).require(role)

    return Guard(check, credential.expires_at)


class EventService:
    def __init__(self, db: Database, streams: EventStreams) -> None:
        self._db = db
        self.streams = streams

    async def find(
        self,
        principal: Principal,
        *,
        since: int | None = None,
        cursor: str | None = None,
        types: list[str] | None = None,
        connection_id: str | None = None,
        limit: int = 50,
    ) -> Page[Event]:
        """Events after ``since`` (or the cursor), oldest first."""
        principal.require(Role.MANAGER)
        check_limit(limit)
        after = since or 0
        if cursor:
            (value,) = decode_cursor(cursor, 1)
            if not isinstance(value, int) or value < 0:
                raise Invalid("cursor is not valid", code="invalid_cursor")
            after = value
        async with self._db.read() as s:
            rows = await list_events(
                s,
                organization_id=principal.organization_id,
                since=after,
                types=types,
                connection_id=connection_id,
                limit=limit + 1,
            )
        items = rows[:limit]
        more = len(rows) > limit
        return Page(items=items, next_cursor=encode_cursor(items[-1].id) if more else None)

    def open_stream(
        self,
        principal: Principal,
        credential: Credential,
        *,
        since: int | None = None,
        types: list[str] | None = None,
        connection_id: str | None = None,
    ) -> Follower:
        principal.require(Role.MANAGER)
        return self.streams.open(
            principal.organization_id,
            since=since,
            types=types,
            connection_id=connection_id,
            guard=_guard(credential, Role.MANAGER),
        )

    def open_signals(
        self, principal: Principal, credential: Credential, *, since: int | None = None
    ) -> Follower:
        """The panel's stream, for every member: the panel turns its events into "what
        changed" signals without content (``web/live.py``), and each part reloads
        through its own tenancy-checked route."""
        return self.streams.open(
            principal.organization_id, since=since, guard=_guard(credential, Role.AGENT)
        )
