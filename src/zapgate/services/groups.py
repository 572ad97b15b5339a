"""Group use cases: create, describe, change, manage participants, invites, join, leave.

Reading a group needs the ``agent`` role (like listing them); everything that changes a
group or exposes its invite link needs ``manager``: an agent answers customers, it does
not reshape the organization's groups. Each change is made on WhatsApp first, then the
stored group is refreshed and the event appended in one transaction.
"""

from __future__ import annotations

from typing import Any

from zapgate.domain.errors import (
    Conflict,
    DomainError,
    EngineError,
    Forbidden,
    Invalid,
    NotFound,
    Unavailable,
)
from zapgate.domain.groups import ParticipantAction
from zapgate.domain.phones import is_group_jid, normalize_phone, user_jid
from zapgate.domain.roles import Role
from zapgate.engines.clean import clean_text
from zapgate.engines.events import GroupInfo, GroupMember
from zapgate.engines.group_types import GroupUpdate, invite_code
from zapgate.events.log import flush_staged
from zapgate.services.commands import Commands
from zapgate.services.context import Principal
from zapgate.services.group_records import (
    MEDIA_URL,
    apply_participants,
    find_group,
    forget_group,
    group_detail,
    group_participants,
    group_updated,
    store_info,
)
from zapgate.services.media import MediaService
from zapgate.store.db import Database
from zapgate.store.tables.connections import ConnectionRow
from zapgate.util.clock import Clock

MAX_PHONES = 50
"""Participants per call: WhatsApp refuses larger batches and flags bulk adds."""
PICTURE_TYPES = frozenset({"image/jpeg"})
"""WhatsApp only takes JPEG group pictures."""
SOURCE = "api"

_ENGINE_ERRORS: dict[str, tuple[type[DomainError], str]] = {
    "group_not_found": (NotFound, "the connection is not in this group"),
    "not_group_admin": (Forbidden, "the connection is not an admin of this group"),
    "invite_invalid": (Invalid, "the invite code is invalid, expired or revoked"),
    "not_connected": (Conflict, "the connection is not ready"),
}


def engine_failure(exc: EngineError) -> DomainError:
    """The API error for a failed engine call: stable codes for what a user will hit."""
    known = _ENGINE_ERRORS.get(exc.code)
    if known is not None:
        kind, message = known
        code = "connection_not_ready" if exc.code == "not_connected" else exc.code
        return kind(message, code=code)
    if exc.permanent:
        return Invalid(exc.message, code=exc.code)
    return Unavailable(f"WhatsApp did not answer: {exc.message}", code=exc.code)


def group_jid(value: str) -> str:
    jid = value.strip()
    if not is_group_jid(jid):
        raise Invalid(f"{value!r} is not a group JID (…@g.us)", code="invalid_jid")
    return jid


def normalized_phones(phones: list[str]) -> list[str]:
    if not phones or len(phones) > MAX_PHONES:
        raise Invalid(f"give 1 to {MAX_PHONES} phone numbers", code="invalid_phones")
    out: list[str] = []
    for raw in phones:
        try:
            phone = normalize_phone(raw)
        except Invalid as exc:
            raise Invalid(exc.message, code="invalid_phone", details={"phone": raw}) from exc
        if phone not in out:
            out.append(phone)
    return out


class GroupService:
    def __init__(self, db: Database, clock: Clock, commands: Commands, media: MediaService) -> None:
        self._db = db
        self._clock = clock
        self._commands = commands
        self._media = media

    async def _call(self, connection_id: str, method: str, *args: Any) -> Any:
        """The engine's ``method`` where the connection runs (``services/commands.py``)."""
        return await self._commands.engine_call(connection_id, method, *args)

    # ------------------------------------------------------------ guards

    async def _connection(self, principal: Principal, connection_id: str) -> ConnectionRow:
        async with self._db.read() as s:
            row = await s.get(ConnectionRow, connection_id)
        if row is None or row.organization_id != principal.organization_id:
            raise NotFound("connection not found", code="connection_not_found")
        return row

    async def _is_ready(self, connection_id: str) -> bool:
        return await self._commands.is_ready(connection_id)

    async def _ready(self, principal: Principal, connection_id: str) -> ConnectionRow:
        row = await self._connection(principal, connection_id)
        if not await self._is_ready(row.id):
            raise Conflict("the connection is not ready", code="connection_not_ready")
        return row

    @staticmethod
    def _me(row: ConnectionRow) -> GroupMember | None:
        if not row.phone:
            return None
        # The account, not its device: neonize's stored JID names the linked device.
        return GroupMember(jid=user_jid(row.phone), phone=row.phone, lid=row.lid)

    async def _refresh(self, row: ConnectionRow, info: GroupInfo) -> dict[str, Any]:
        async with self._db.write() as s:
            group = await store_info(s, row.organization_id, row.id, info, self._clock.now())
            return group_detail(group)

    async def _joined(self, row: ConnectionRow, info: GroupInfo) -> dict[str, Any]:
        """The number is in a group it made or joined through the API: stored, and
        ``group.participants`` adds it (Evolution's ``GROUPS_UPSERT``). The engine's
        own report of such a join (neonize's JoinedGroup, by us) only stores it, so
        this is said once."""
        me = self._me(row)
        now = self._clock.now()
        async with self._db.write() as s:
            group = await store_info(s, row.organization_id, row.id, info, now)
            if me is not None:
                group_participants(
                    s,
                    group,
                    action=ParticipantAction.ADD,
                    members=(me,),
                    by=me,
                    source=SOURCE,
                    now=now,
                )
            await flush_staged(s)
            return group_detail(group)

    # ------------------------------------------------------------ reading

    async def get(self, principal: Principal, connection_id: str, jid: str) -> dict[str, Any]:
        """Fresh from WhatsApp when the connection is ready, else as last stored."""
        principal.require(Role.AGENT)
        target = group_jid(jid)
        row = await self._connection(principal, connection_id)
        if await self._is_ready(row.id):
            try:
                info = clean_text(await self._call(row.id, "group_info", target))
            except EngineError as exc:
                if exc.code == "group_not_found":
                    async with self._db.write() as s:
                        await forget_group(s, row.id, target)
                raise engine_failure(exc) from exc
            return await self._refresh(row, info)
        async with self._db.read() as s:
            group = await find_group(s, row.id, target)
            if group is None:
                raise NotFound("the connection is not in this group", code="group_not_found")
            return group_detail(group)

    # ------------------------------------------------------------ changes

    async def create(
        self, principal: Principal, connection_id: str, *, subject: str, phones: list[str]
    ) -> dict[str, Any]:
        principal.require(Role.MANAGER)
        members = normalized_phones(phones)
        row = await self._ready(principal, connection_id)
        try:
            info = clean_text(await self._call(row.id, "create_group", subject, members))
        except EngineError as exc:
            raise engine_failure(exc) from exc
        return await self._joined(row, info)

    async def update(
        self,
        principal: Principal,
        connection_id: str,
        jid: str,
        *,
        subject: str | None = None,
        description: str | None = None,
        picture_media_id: str | None = None,
    ) -> dict[str, Any]:
        principal.require(Role.MANAGER)
        target = group_jid(jid)
        # Whose connection it is comes first: another organization's is a 404 whatever
        # the body says.
        await self._connection(principal, connection_id)
        if subject is None and description is None and picture_media_id is None:
            raise Invalid("nothing to change", code="empty_update")
        row = await self._ready(principal, connection_id)
        picture = None
        if picture_media_id is not None:
            media, picture = await self._media.content(principal, picture_media_id)
            if media.mimetype not in PICTURE_TYPES:
                raise Invalid("a group picture is a JPEG image", code="invalid_picture")
        try:
            await self._call(
                row.id, "update_group", target, GroupUpdate(subject, description, picture)
            )
            info = clean_text(await self._call(row.id, "group_info", target))
        except EngineError as exc:
            raise engine_failure(exc) from exc
        changes: dict[str, str | None] = {}
        if subject is not None:
            changes["subject"] = info.name
        if description is not None:
            changes["description"] = info.topic
        if picture_media_id is not None:
            changes["picture"] = MEDIA_URL.format(picture_media_id)
        now = self._clock.now()
        async with self._db.write() as s:
            group = await store_info(s, row.organization_id, row.id, info, now)
            if picture_media_id is not None:
                group.picture_media_id = picture_media_id
            group_updated(s, group, changes=changes, by=self._me(row), source=SOURCE, now=now)
            await flush_staged(s)
            return group_detail(group)

    async def participants(
        self,
        principal: Principal,
        connection_id: str,
        jid: str,
        *,
        action: ParticipantAction,
        phones: list[str],
    ) -> dict[str, Any]:
        principal.require(Role.MANAGER)
        target = group_jid(jid)
        members = normalized_phones(phones)
        row = await self._ready(principal, connection_id)
        try:
            results = clean_text(
                await self._call(row.id, "update_participants", target, action, members)
            )
            info = clean_text(await self._call(row.id, "group_info", target))
        except EngineError as exc:
            raise engine_failure(exc) from exc
        changed = tuple(
            GroupMember(jid=r.jid or user_jid(r.phone), phone=r.phone) for r in results if r.ok
        )
        now = self._clock.now()
        async with self._db.write() as s:
            group = await store_info(s, row.organization_id, row.id, info, now)
            if changed:
                group_participants(
                    s,
                    group,
                    action=action,
                    members=changed,
                    by=self._me(row),
                    source=SOURCE,
                    now=now,
                )
            await flush_staged(s)
            detail = group_detail(group)
        return {
            "group": detail,
            "results": [
                {"phone": r.phone, "jid": r.jid, "ok": r.ok, "error": r.error} for r in results
            ],
        }

    async def invite(
        self, principal: Principal, connection_id: str, jid: str, *, revoke: bool = False
    ) -> dict[str, str]:
        principal.require(Role.MANAGER)
        target = group_jid(jid)
        row = await self._ready(principal, connection_id)
        try:
            link = await self._call(row.id, "group_invite", target, revoke)
        except EngineError as exc:
            raise engine_failure(exc) from exc
        return {"code": link.code, "url": link.url}

    async def join(self, principal: Principal, connection_id: str, code: str) -> dict[str, Any]:
        principal.require(Role.MANAGER)
        value = invite_code(code)
        if not value:
            raise Invalid("the invite code is empty", code="invite_invalid")
        row = await self._ready(principal, connection_id)
        try:
            info = clean_text(await self._call(row.id, "join_group", value))
        except EngineError as exc:
            raise engine_failure(exc) from exc
        return await self._joined(row, info)

    async def leave(self, principal: Principal, connection_id: str, jid: str) -> None:
        principal.require(Role.MANAGER)
        target = group_jid(jid)
        row = await self._ready(principal, connection_id)
        try:
            await self._call(row.id, "leave_group", target)
        except EngineError as exc:
            raise engine_failure(exc) from exc
        me = self._me(row)
        now = self._clock.now()
        async with self._db.write() as s:
            group = await find_group(s, row.id, target)
            if group is None:
                return
            if me is not None:
                apply_participants(group, ParticipantAction.REMOVE, (me,))
                group_participants(
                    s,
                    group,
                    action=ParticipantAction.REMOVE,
                    members=(me,),
                    by=me,
                    source=SOURCE,
                    now=now,
                )
            await s.delete(group)
            await flush_staged(s)  # after the delete: the log's lock is the last one taken
