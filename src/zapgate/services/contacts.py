"""Contacts with their CRM fields (name, email, company, tags, notes, custom fields)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import String, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.errors import Invalid, NotFound
from zapgate.domain.events import EventType
from zapgate.domain.ids import is_id
from zapgate.domain.phones import normalize_phone
from zapgate.domain.roles import Role
from zapgate.events.log import append_event
from zapgate.services.context import Principal
from zapgate.services.payloads import contact_payload
from zapgate.store.db import Database
from zapgate.store.pagination import Page, check_limit, decode_cursor, encode_cursor
from zapgate.store.search import contains_text
from zapgate.store.tables.conversations import ContactRow
from zapgate.util.clock import Clock

_UNSET: Any = object()
# Tags are short labels; quotes and backslashes are refused so a tag search can match
# the JSON text of the list the same way on SQLite and PostgreSQL.
_TAG = re.compile(r'^[^"\\]{1,50}$')
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_TAGS = 50
MAX_CUSTOM_FIELDS = 100


def clean_tags(tags: list[str]) -> list[str]:
    out: list[str] = []
    for tag in tags:
        value = tag.strip()
        if not _TAG.match(value):
            raise Invalid(
                f"tag {tag!r} must have 1 to 50 characters, no quotes", code="invalid_tag"
            )
        if value not in out:
            out.append(value)
    if len(out) > MAX_TAGS:
        raise Invalid(f"a contact has at most {MAX_TAGS} tags", code="invalid_tag")
    return out


class ContactService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def _get(self, s: AsyncSession, principal: Principal, contact_id: str) -> ContactRow:
        row = await s.get(ContactRow, contact_id) if is_id(contact_id) else None
        if row is None or row.organization_id != principal.organization_id:
            raise NotFound("contact not found", code="contact_not_found")
        return row

    async def get(self, principal: Principal, contact_id: str) -> dict[str, Any]:
        async with self._db.read() as s:
            return contact_payload(await self._get(s, principal, contact_id))

    async def find(
        self,
        principal: Principal,
        *,
        q: str | None = None,
        tag: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[dict[str, Any]]:
        check_limit(limit)
        query = (
            select(ContactRow)
            .where(ContactRow.organization_id == principal.organization_id)
            .order_by(ContactRow.id)
            .limit(limit + 1)
        )
        if q and q.strip():
            query = query.where(
                contains_text(
                    q.strip(),
                    ContactRow.name,
                    ContactRow.push_name,
                    ContactRow.phone,
                    ContactRow.email,
                    ContactRow.company,
                    ContactRow.jid,
                )
            )
        if tag:
            (clean,) = clean_tags([tag])
            # The quotes hold the match to one whole tag of the list's JSON text.
            query = query.where(contains_text(f'"{clean}"', cast(ContactRow.tags, String)))
        if cursor:
            (after,) = decode_cursor(cursor, 1)
            query = query.where(ContactRow.id > str(after))
        async with self._db.read() as s:
            rows = list((await s.scalars(query)).all())
        more = len(rows) > limit
        items = rows[:limit]
        return Page(
            [contact_payload(r) for r in items],
            encode_cursor(items[-1].id) if more and items else None,
        )

    async def names(self, principal: Principal, phones: list[str]) -> dict[str, str]:
        """The name (given, else WhatsApp's push name) of the organization's contacts
        with these phones, by phone; phones without a named contact are left out."""
        wanted = sorted({p for p in phones if p})[:1000]
        if not wanted:
            return {}
        async with self._db.read() as s:
            rows = (
                await s.scalars(
                    select(ContactRow).where(
                        ContactRow.organization_id == principal.organization_id,
                        ContactRow.phone.in_(wanted),
                    )
                )
            ).all()
        return {
            r.phone: str(r.name or r.push_name) for r in rows if r.phone and (r.name or r.push_name)
        }

    async def update(
        self,
        principal: Principal,
        contact_id: str,
        *,
        name: str | None = _UNSET,
        phone: str | None = _UNSET,
        email: str | None = _UNSET,
        company: str | None = _UNSET,
        tags: list[str] | None = _UNSET,
        notes: str | None = _UNSET,
        custom_fields: dict[str, Any] | None = _UNSET,
    ) -> dict[str, Any]:
        principal.require(Role.AGENT)
        changes: dict[str, Any] = {}
        if name is not _UNSET:
            changes["name"] = name.strip()[:200] or None if name else None
        if phone is not _UNSET:
            changes["phone"] = normalize_phone(phone) if phone else None
        if email is not _UNSET:
            if email and not _EMAIL.match(email.strip()):
                raise Invalid("email is not an e-mail address", code="invalid_email")
            changes["email"] = email.strip().lower() if email else None
        if company is not _UNSET:
            changes["company"] = company.strip()[:200] or None if company else None
        if tags is not _UNSET:
            changes["tags"] = clean_tags(tags or [])
        if notes is not _UNSET:
            changes["notes"] = notes or None
        if custom_fields is not _UNSET:
            fields = dict(custom_fields or {})
            if len(fields) > MAX_CUSTOM_FIELDS:
                raise Invalid(
                    f"at most {MAX_CUSTOM_FIELDS} custom fields", code="invalid_custom_fields"
                )
            changes["custom_fields"] = fields
        now = self._clock.now()
        async with self._db.write(in_loop=True) as s:
            row = await self._get(s, principal, contact_id)
            for field, value in changes.items():
                setattr(row, field, value)
            row.updated_at = now
            await s.flush()
            payload = contact_payload(row)
            await append_event(
                s,
                organization_id=row.organization_id,
                type=EventType.CONTACT_UPDATED,
                data=payload,
                created_at=now,
            )
        return payload
