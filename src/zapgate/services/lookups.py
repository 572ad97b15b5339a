"""Questions asked of WhatsApp through a connection: numbers and groups."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from zapgate.domain.errors import Conflict, DomainError, EngineError, Invalid, NotFound
from zapgate.domain.ids import new_id
from zapgate.domain.phones import normalize_phone, user_jid
from zapgate.domain.roles import Role
from zapgate.domain.times import iso_utc
from zapgate.engines.base import NumberCheck
from zapgate.engines.clean import clean_text
from zapgate.engines.events import GroupInfo
from zapgate.services.commands import Commands
from zapgate.services.context import Principal
from zapgate.store.db import Database
from zapgate.store.rows import insert_ignore
from zapgate.store.tables.connections import ConnectionRow
from zapgate.store.tables.conversations import ContactRow, GroupRow
from zapgate.util.clock import Clock

log = logging.getLogger(__name__)

MAX_CHECK = 100
"""Numbers per check: WhatsApp answers larger batches slowly and flags bulk lookups."""
CHECK_TTL = timedelta(days=30)
"""How long a contact's on-WhatsApp answer is trusted (the outbox's too); numbers
rarely leave WhatsApp."""


@dataclass(frozen=True, slots=True)
class NumberAnswer:
    """Whether a number is on WhatsApp; ``jid`` is WhatsApp's (None when it is not)."""

    phone: str
    on_whatsapp: bool
    jid: str | None
    asked: bool = False
    """WhatsApp was asked now (not the contact's cached answer)."""


def group_payload(row: GroupRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "connection_id": row.connection_id,
        "jid": row.jid,
        "name": row.name,
        "topic": row.topic,
        "participants": row.participants,
        "updated_at": iso_utc(row.updated_at),
    }


class LookupService:
    def __init__(self, db: Database, clock: Clock, commands: Commands) -> None:
        self._db = db
        self._clock = clock
        self._commands = commands

    async def _connection(self, principal: Principal, connection_id: str) -> ConnectionRow:
        async with self._db.read() as s:
            row = await s.get(ConnectionRow, connection_id)
        if row is None or row.organization_id != principal.organization_id:
            raise NotFound("connection not found", code="connection_not_found")
        return row

    async def check_numbers(
        self, principal: Principal, connection_id: str, phones: list[str]
    ) -> list[dict[str, Any]]:
        principal.require(Role.AGENT)
        if not phones or len(phones) > MAX_CHECK:
            raise Invalid(f"give 1 to {MAX_CHECK} phone numbers", code="invalid_phones")
        row = await self._connection(principal, connection_id)
        normalized: list[str] = []
        for raw in phones:
            try:
                normalized.append(normalize_phone(raw))
            except Invalid as exc:
                raise Invalid(exc.message, code="invalid_phone", details={"phone": raw}) from exc
        if not await self._commands.is_ready(row.id):
            raise Conflict("the connection is not ready", code="connection_not_ready")
        checks: list[NumberCheck] = await self._commands.engine_call(
            row.id, "check_numbers", sorted(set(normalized))
        )
        answers = {c.phone: c for c in checks}
        now = self._clock.now()
        await self._remember(principal.organization_id, answers, now)
        out = []
        for phone in normalized:
            check = answers.get(phone)
            on = bool(check and check.on_whatsapp)
            out.append(
                {"phone": phone, "on_whatsapp": on, "jid": check.jid if check and on else None}
            )
        return out

    async def cached_check(
        self, principal: Principal, connection_id: str, phone: str
    ) -> NumberAnswer | None:
        """Whether ``phone`` is on WhatsApp: its contact's answer while younger than
        :data:`CHECK_TTL`, else WhatsApp's (remembered on the contact). None when the
        connection is not ready, so nothing can be asked."""
        principal.require(Role.AGENT)
        number = normalize_phone(phone)
        jid = user_jid(number)
        async with self._db.read() as s:
            contact = await s.scalar(
                select(ContactRow).where(
                    ContactRow.organization_id == principal.organization_id,
                    ContactRow.jid == jid,
                )
            )
        now = self._clock.now()
        if (
            contact is not None
            and contact.on_whatsapp is not None
            and contact.checked_at is not None
            and now - contact.checked_at < CHECK_TTL
        ):
            return NumberAnswer(number, contact.on_whatsapp, jid if contact.on_whatsapp else None)
        try:
            (check,) = await self.check_numbers(principal, connection_id, [number])
        except (DomainError, EngineError, SQLAlchemyError, OSError) as exc:
            # Not ready, timed out, carried to a node that did not answer: not asked,
            # and the outbox checks the number before it sends.
            log.info(
                "number check failed; not asked",
                extra={"connection_id": connection_id, "error": type(exc).__name__},
            )
            return None
        return NumberAnswer(number, bool(check["on_whatsapp"]), check["jid"], asked=True)

    async def remember_answer(self, principal: Principal, answer: NumberAnswer) -> None:
        """Keep WhatsApp's answer on the number's contact (made since it was asked, by
        the send that asked), so the outbox does not ask again before sending."""
        if answer.asked:
            await self._remember(
                principal.organization_id, {answer.phone: answer}, self._clock.now()
            )

    async def contact_names(self, principal: Principal, jids: list[str]) -> dict[str, str | None]:
        """The known contacts among ``jids`` (phone JIDs or LIDs), each with the name
        WhatsApp gave it (else the one given here; None when it has neither)."""
        principal.require(Role.AGENT)
        if not jids:
            return {}
        async with self._db.read() as s:
            rows = await s.scalars(
                select(ContactRow).where(
                    ContactRow.organization_id == principal.organization_id,
                    or_(ContactRow.jid.in_(jids), ContactRow.lid.in_(jids)),
                )
            )
            found: dict[str, str | None] = {}
            for c in rows.all():
                for jid in (c.jid, c.lid):
                    if jid in jids:
                        found[jid] = c.push_name or c.name
        return found

    async def _remember(self, organization_id: str, answers: dict[str, Any], now: datetime) -> None:
        """Cache the answers on known contacts, so the outbox need not ask again."""
        async with self._db.write(in_loop=True) as s:
            for phone, check in answers.items():
                await s.execute(
                    update(ContactRow)
                    .where(
                        ContactRow.organization_id == organization_id,
                        ContactRow.jid == user_jid(phone),
                    )
                    .values(on_whatsapp=bool(check.on_whatsapp), checked_at=now)
                )

    async def groups(self, principal: Principal, connection_id: str) -> list[dict[str, Any]]:
        """The groups the number is in: fresh from WhatsApp when ready, else as last stored."""
        principal.require(Role.AGENT)
        row = await self._connection(principal, connection_id)
        if await self._commands.is_ready(row.id):
            fresh: list[GroupInfo] = clean_text(
                await self._commands.engine_call(row.id, "get_groups")
            )
            now = self._clock.now()
            async with self._db.write() as s:
                for info in fresh:
                    participants = [
                        {
                            "jid": p.jid,
                            "phone": p.phone,
                            "lid": p.lid,
                            "is_admin": p.is_admin,
                            "is_super_admin": p.is_super_admin,
                        }
                        for p in info.participants
                    ]
                    values = {
                        "name": info.name,
                        "topic": info.topic,
                        "participants": participants,
                        "updated_at": now,
                    }
                    inserted = await insert_ignore(
                        s,
                        GroupRow,
                        {
                            "id": new_id(),
                            "organization_id": row.organization_id,
                            "connection_id": row.id,
                            "jid": info.jid,
                            **values,
                        },
                    )
                    if not inserted:
                        await s.execute(
                            update(GroupRow)
                            .where(GroupRow.connection_id == row.id, GroupRow.jid == info.jid)
                            .values(**values)
                        )
        async with self._db.read() as s:
            rows = await s.scalars(
                select(GroupRow).where(GroupRow.connection_id == row.id).order_by(GroupRow.name)
            )
            return [group_payload(g) for g in rows.all()]
