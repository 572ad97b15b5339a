"""Profiles: a contact's picture (fetched lazily, cached), blocking, business accounts,
and the connection's own profile.

A contact's picture is asked of WhatsApp through one of the organization's ready
connections the first time someone wants it, kept as a file of ``media`` and served by
zapgate (``GET /contacts/{id}/picture``): WhatsApp's picture URLs are signed, expire and
would tell WhatsApp who looks, so none ever leaves the engine. The answer is trusted for
``PICTURE_TTL`` (``NO_PICTURE_TTL`` for "has none"); after that the next request asks
again, and keeps the stored file when WhatsApp's picture id did not change.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.errors import Conflict, DomainError, EngineError, Invalid, NotFound, Unavailable
from zapgate.domain.events import EventType
from zapgate.domain.ids import is_id
from zapgate.domain.mediatypes import media_type
from zapgate.domain.phones import user_jid
from zapgate.domain.roles import Role
from zapgate.engines.profile_types import (
    MAX_PICTURE_BYTES,
    MAX_PUSH_NAME,
    MAX_STATUS,
    ContactProfile,
    ProfilePicture,
    ProfileUpdate,
)
from zapgate.events.log import append_event
from zapgate.services.commands import Commands
from zapgate.services.context import Principal
from zapgate.services.groups import engine_failure
from zapgate.services.identities import ensure_contact
from zapgate.services.media import MediaService, StoredFile, media_row
from zapgate.services.payloads import connection_payload, contact_payload
from zapgate.store.db import Database
from zapgate.store.tables.connections import ConnectionRow
from zapgate.store.tables.conversations import ChatRow, ContactRow
from zapgate.store.tables.messages import MediaRow
from zapgate.util.clock import Clock

PICTURE_TTL = timedelta(hours=24)
NO_PICTURE_TTL = timedelta(hours=1)
PICTURE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
"""What a stored picture may be served as; WhatsApp's are JPEG."""
OWN_PICTURE_TYPES = frozenset({"image/jpeg"})
"""WhatsApp only takes JPEG profile pictures."""


def _clean(value: str, what: str, limit: int, *, empty: bool) -> str:
    text = value.strip()
    if (not text and not empty) or len(text) > limit:
        least = 0 if empty else 1
        raise Invalid(f"{what} must have {least} to {limit} characters", code=f"invalid_{what}")
    return text


class ProfileService:
    def __init__(self, db: Database, clock: Clock, commands: Commands, media: MediaService) -> None:
        self._db = db
        self._clock = clock
        self._commands = commands
        self._media = media

    async def _call(self, connection_id: str, method: str, *args: Any) -> Any:
        """The engine's ``method`` where the connection runs (``services/commands.py``)."""
        return await self._commands.engine_call(connection_id, method, *args)

    async def _contact(self, s: AsyncSession, principal: Principal, contact_id: str) -> ContactRow:
        row = await s.get(ContactRow, contact_id) if is_id(contact_id) else None
        if row is None or row.organization_id != principal.organization_id:
            raise NotFound("contact not found", code="contact_not_found")
        return row

    async def _ready_connections(self, s: AsyncSession, contact: ContactRow) -> list[str]:
        """The organization's ready connections, the ones chatting with ``contact``
        first (most recent chat first)."""
        chats = (
            await s.scalars(
                select(ChatRow.connection_id)
                .where(
                    ChatRow.organization_id == contact.organization_id,
                    ChatRow.contact_id == contact.id,
                    ChatRow.connection_id.is_not(None),
                )
                .order_by(ChatRow.last_message_at.desc())
            )
        ).all()
        every = (
            await s.scalars(
                select(ConnectionRow.id)
                .where(ConnectionRow.organization_id == contact.organization_id)
                .order_by(ConnectionRow.is_primary.desc(), ConnectionRow.id)
            )
        ).all()
        ordered = dict.fromkeys([c for c in chats if c is not None] + list(every))
        return await self._commands.ready(list(ordered))

    @staticmethod
    def _jid(contact: ContactRow) -> str:
        # The phone JID when known: WhatsApp answers a LID's picture too, but a phone
        # JID works with every engine.
        return user_jid(contact.phone) if contact.phone else contact.jid

    # ------------------------------------------------------------ pictures

    async def picture(self, principal: Principal, contact_id: str) -> tuple[MediaRow, bytes]:
        """The contact's profile picture (row and bytes); ``picture_not_found`` (404)
        when the contact has none or hides it from us."""
        now = self._clock.now()
        async with self._db.read() as s:
            contact = await self._contact(s, principal, contact_id)
            checked = contact.picture_checked_at
            ttl = PICTURE_TTL if contact.picture_media_id else NO_PICTURE_TTL
            fresh = checked is not None and now - checked < ttl
            ready = [] if fresh else await self._ready_connections(s, contact)
        if not fresh:
            if ready:
                try:
                    contact = await self._refresh(ready[0], contact)
                except Unavailable:
                    # WhatsApp did not answer now: an earlier answer still stands.
                    if checked is None:
                        raise
            elif checked is None:
                raise Conflict(
                    "no connection is ready to ask WhatsApp for this picture",
                    code="connection_not_ready",
                )
            # Expired but nobody can ask: the last answer stands.
        if contact.picture_media_id is None:
            raise NotFound("this contact has no profile picture", code="picture_not_found")
        async with self._db.read() as s:
            media = await s.get(MediaRow, contact.picture_media_id)
        if media is None:
            raise NotFound("this contact has no profile picture", code="picture_not_found")
        return media, await self._media.store.read(media.path)

    async def _refresh(self, connection_id: str, contact: ContactRow) -> ContactRow:
        try:
            profile = await self._call(connection_id, "contact_profile", self._jid(contact))
        except EngineError as exc:
            raise engine_failure(exc) from exc
        return await self._store_profile(contact.id, profile)

    async def _store_profile(self, contact_id: str, profile: ContactProfile) -> ContactRow:
        now = self._clock.now()
        picture = profile.picture
        stored = None
        kept_type = None
        if picture is not None:
            kept_type = media_type(picture.mimetype)
            if kept_type not in PICTURE_TYPES or not picture.data:
                picture = None  # Not an image we would serve: as good as none.
            elif len(picture.data) > MAX_PICTURE_BYTES:
                picture = None
        if picture is not None and not await self._has_picture(contact_id, picture.id):
            # Saved before the transaction, not inside it: in a cluster the store is the
            # database, and a write within a write holds two connections of the pool.
            stored = await self._media.store.save(picture.data)
        used = False
        try:
            dropped, contact = await self._record_profile(
                contact_id, profile, picture, stored, kept_type, now
            )
            used = stored is not None and contact.picture_media_id == stored.id
        finally:
            if stored is not None and not used:
                await self._media.store.remove(stored.path)  # unused: the write failed or raced
        if dropped is not None:
            # After the commit: a failed write keeps the file its row still names.
            await self._media.store.remove(dropped)
        return contact

    async def _has_picture(self, contact_id: str, picture_id: str | None) -> bool:
        async with self._db.read() as s:
            known = (
                await s.execute(
                    select(ContactRow.picture_id, ContactRow.picture_media_id).where(
                        ContactRow.id == contact_id
                    )
                )
            ).first()
        return known is not None and known[0] == picture_id and known[1] is not None

    async def _record_profile(
        self,
        contact_id: str,
        profile: ContactProfile,
        picture: ProfilePicture | None,
        stored: StoredFile | None,
        kept_type: str | None,
        now: datetime,
    ) -> tuple[str | None, ContactRow]:
        """The profile written: the path of a picture it replaced, and the contact."""
        dropped: str | None = None
        async with self._db.write() as s:
            contact = await s.get(ContactRow, contact_id)
            if contact is None:
                raise NotFound("contact not found", code="contact_not_found")
            before = (contact.picture_id, contact.is_business)
            old_media = contact.picture_media_id
            same = picture is not None and picture.id == contact.picture_id and old_media
            if picture is not None and not same and stored is not None:
                row = media_row(
                    stored,
                    organization_id=contact.organization_id,
                    mimetype=kept_type or "image/jpeg",
                    filename="picture",
                    now=now,
                )
                s.add(row)
                contact.picture_media_id = row.id
                contact.picture_id = picture.id
            elif picture is None:
                contact.picture_media_id = None
                contact.picture_id = None
            if old_media and old_media != contact.picture_media_id:
                old = await s.get(MediaRow, old_media)
                if old is not None:
                    await s.delete(old)
                    dropped = old.path
            if profile.is_business is not None:
                contact.is_business = profile.is_business
            contact.picture_checked_at = now
            if (contact.picture_id, contact.is_business) != before:
                contact.updated_at = now
                await s.flush()
                await append_event(
                    s,
                    organization_id=contact.organization_id,
                    type=EventType.CONTACT_UPDATED,
                    data=contact_payload(contact),
                    created_at=now,
                )
        return dropped, contact

    # ------------------------------------------------------------ blocking

    async def contact_for(self, principal: Principal, jid: str) -> str:
        """The id of the organization's contact for a person's ``jid``, created when
        zapgate never met them (Evolution asks by number)."""
        principal.require(Role.AGENT)
        if jid.endswith("@g.us"):
            raise Invalid("a group has no contact", code="invalid_contact")
        async with self._db.write() as s:
            row, _ = await ensure_contact(
                s, organization_id=principal.organization_id, jid=jid, now=self._clock.now()
            )
            return row.id

    async def block(
        self,
        principal: Principal,
        contact_id: str,
        blocked: bool,
        *,
        connection_id: str | None = None,
    ) -> dict[str, Any]:
        """Block (or unblock) the contact on every ready connection of the organization,
        or on ``connection_id`` alone."""
        principal.require(Role.MANAGER)
        async with self._db.read() as s:
            contact = await self._contact(s, principal, contact_id)
            if contact.jid.endswith("@g.us"):
                raise Invalid("a group cannot be blocked", code="invalid_contact")
            ready = await self._ready_connections(s, contact)
        if connection_id is not None:
            ready = [c for c in ready if c == connection_id]
        if not ready:
            raise Conflict(
                "no connection is ready to block or unblock this contact",
                code="connection_not_ready",
            )
        for connection_id in ready:
            try:
                await self._call(connection_id, "set_blocked", self._jid(contact), blocked)
            except EngineError as exc:
                raise engine_failure(exc) from exc
        now = self._clock.now()
        async with self._db.write() as s:
            row = await self._contact(s, principal, contact_id)
            if row.blocked != blocked:
                row.blocked = blocked
                row.updated_at = now
                await s.flush()
                await append_event(
                    s,
                    organization_id=row.organization_id,
                    type=EventType.CONTACT_UPDATED,
                    data=contact_payload(row),
                    created_at=now,
                )
            return {**contact_payload(row), "connections": ready}

    # ------------------------------------------------------------ own profile

    async def update_own(
        self,
        principal: Principal,
        connection_id: str,
        *,
        name: str | None = None,
        status: str | None = None,
        picture_media_id: str | None = None,
    ) -> ConnectionRow:
        """Change the connection's own name, "about" text and picture on WhatsApp."""
        principal.require(Role.ADMIN)
        async with self._db.read() as s:
            row = await s.get(ConnectionRow, connection_id) if is_id(connection_id) else None
        if row is None or row.organization_id != principal.organization_id:
            raise NotFound("connection not found", code="connection_not_found")
        if name is None and status is None and picture_media_id is None:
            raise Invalid("nothing to change", code="empty_update")
        clean_name = _clean(name, "name", MAX_PUSH_NAME, empty=False) if name is not None else None
        clean_status = (
            _clean(status, "status", MAX_STATUS, empty=True) if status is not None else None
        )
        picture = None
        if picture_media_id is not None:
            media, picture = await self._media.content(principal, picture_media_id)
            if media.mimetype not in OWN_PICTURE_TYPES:
                raise Invalid("a profile picture is a JPEG image", code="invalid_picture")
        if not await self._commands.is_ready(row.id):
            raise Conflict("the connection is not ready", code="connection_not_ready")
        try:
            await self._call(
                row.id, "update_profile", ProfileUpdate(clean_name, clean_status, picture)
            )
        except EngineError as exc:
            raise engine_failure(exc) from exc
        now = self._clock.now()
        async with self._db.write() as s:
            fresh = await s.get(ConnectionRow, row.id)
            if fresh is None:
                raise NotFound("connection not found", code="connection_not_found")
            if clean_name is not None:
                fresh.push_name = clean_name
            if clean_status is not None:
                fresh.profile_status = clean_status or None
            if picture_media_id is not None:
                fresh.profile_picture_media_id = picture_media_id
            fresh.updated_at = now
            await s.flush()
            payload = connection_payload(fresh)
            await append_event(
                s,
                organization_id=fresh.organization_id,
                connection_id=fresh.id,
                type=EventType.CONNECTION_UPDATED,
                data=payload,
                created_at=now,
            )
        if clean_name is not None:
            # The runner hands the name to the engine on the next open; a runner
            # between nodes reads it from the row when it is taken up.
            with contextlib.suppress(DomainError):
                await self._commands.run(row.id, "push_name", {"name": clean_name})
        return fresh
