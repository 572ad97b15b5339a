"""Reusable message texts with ``{{variables}}``."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.errors import Conflict, Invalid, NotFound
from zapgate.domain.ids import is_id, new_id
from zapgate.domain.roles import Role
from zapgate.domain.times import iso_utc
from zapgate.services.context import Principal
from zapgate.store.db import Database
from zapgate.store.pagination import Page, check_limit, decode_cursor, page_by_id
from zapgate.store.search import contains_text
from zapgate.store.tables.messages import TemplateRow
from zapgate.util.clock import Clock

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")
_UNSET: Any = object()


def variables_of(body: str) -> list[str]:
    """The variable names a template uses, in order of first appearance."""
    seen: dict[str, None] = {}
    for match in _VARIABLE.finditer(body):
        seen.setdefault(match.group(1), None)
    return list(seen)


def render(body: str, variables: dict[str, Any]) -> str:
    """Fill every ``{{name}}``; a missing variable is a 422 naming all that are missing."""
    missing = [name for name in variables_of(body) if name not in variables]
    if missing:
        raise Invalid(
            f"missing template variables: {', '.join(missing)}",
            code="missing_variables",
            details={"missing": missing},
        )
    return _VARIABLE.sub(lambda m: str(variables[m.group(1)]), body)


def template_payload(row: TemplateRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "body": row.body,
        "variables": variables_of(row.body),
        "created_at": iso_utc(row.created_at),
        "updated_at": iso_utc(row.updated_at),
    }


def _clean(name: str | None, body: str | None) -> tuple[str | None, str | None]:
    if name is not None:
        name = name.strip()
        if not name or len(name) > 200:
            raise Invalid("name must have 1 to 200 characters", code="invalid_name")
    if body is not None and (not body.strip() or len(body) > 65536):
        raise Invalid("body must have 1 to 65536 characters", code="invalid_body")
    return name, body


class TemplateService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def _get(self, s: AsyncSession, principal: Principal, template_id: str) -> TemplateRow:
        row = await s.get(TemplateRow, template_id) if is_id(template_id) else None
        if row is None or row.organization_id != principal.organization_id:
            raise NotFound("template not found", code="template_not_found")
        return row

    async def get(self, principal: Principal, template_id: str) -> TemplateRow:
        async with self._db.read() as s:
            return await self._get(s, principal, template_id)

    async def find(
        self, principal: Principal, *, q: str | None = None, limit: int = 50, cursor: str | None
    ) -> Page[TemplateRow]:
        check_limit(limit)
        query = (
            select(TemplateRow)
            .where(TemplateRow.organization_id == principal.organization_id)
            .order_by(TemplateRow.id)
            .limit(limit + 1)
        )
        if q and q.strip():
            query = query.where(contains_text(q.strip(), TemplateRow.name))
        if cursor:
            (after,) = decode_cursor(cursor, 1)
            query = query.where(TemplateRow.id > str(after))
        async with self._db.read() as s:
            return page_by_id(list((await s.scalars(query)).all()), limit)

    async def create(self, principal: Principal, *, name: str, body: str) -> TemplateRow:
        principal.require(Role.MANAGER)
        clean_name, clean_body = _clean(name, body)
        assert clean_name is not None
        assert clean_body is not None
        now = self._clock.now()
        row = TemplateRow(
            id=new_id(),
            organization_id=principal.organization_id,
            name=clean_name,
            body=clean_body,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self._db.write() as s:
                s.add(row)
        except IntegrityError as exc:
            raise Conflict("a template with this name exists", code="template_exists") from exc
        return row

    async def update(
        self,
        principal: Principal,
        template_id: str,
        *,
        name: str | None = _UNSET,
        body: str | None = _UNSET,
    ) -> TemplateRow:
        principal.require(Role.MANAGER)
        clean_name, clean_body = _clean(
            None if name is _UNSET else name, None if body is _UNSET else body
        )
        try:
            async with self._db.write() as s:
                row = await self._get(s, principal, template_id)
                if clean_name is not None:
                    row.name = clean_name
                if clean_body is not None:
                    row.body = clean_body
                row.updated_at = self._clock.now()
        except IntegrityError as exc:
            raise Conflict("a template with this name exists", code="template_exists") from exc
        return row

    async def delete(self, principal: Principal, template_id: str) -> None:
        principal.require(Role.MANAGER)
        async with self._db.write() as s:
            await s.delete(await self._get(s, principal, template_id))

    async def render(
        self, principal: Principal, template_id: str, variables: dict[str, Any]
    ) -> tuple[TemplateRow, str]:
        row = await self.get(principal, template_id)
        return row, render(row.body, variables)
