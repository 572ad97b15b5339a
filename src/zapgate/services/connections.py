"""Connections: create, configure and drive them; tenancy checked on every call."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.domain.errors import Conflict, Invalid, NotFound
from zapgate.domain.events import EventType
from zapgate.domain.ids import new_id
from zapgate.domain.phones import normalize_phone
from zapgate.domain.roles import Role
from zapgate.domain.states import ConnectionState
from zapgate.engines.base import PairingCode
from zapgate.events.log import append_event
from zapgate.services.commands import HOP_TIMEOUT, Commands, RemoteError, pairing_from
from zapgate.services.connection_behaviour import apply_settings
from zapgate.services.connection_removal import ConnectionRemoval
from zapgate.services.connection_stats import connection_stats
from zapgate.services.context import Principal
from zapgate.services.payloads import connection_payload
from zapgate.sessions.proxies import needs_sealing, store_proxy
from zapgate.sessions.runner import RunsElsewhere
from zapgate.sessions.supervisor import Supervisor
from zapgate.store.db import Database
from zapgate.store.pagination import Page, check_limit, decode_cursor, encode_cursor, page_by_id
from zapgate.store.search import contains_text
from zapgate.store.tables.connections import ConnectionEventRow, ConnectionRow
from zapgate.util.clock import Clock

log = logging.getLogger(__name__)

_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class QrCode:
    code: str
    expires_at: datetime
    index: int
    total: int


def _clean_name(value: str, what: str) -> str:
    clean = value.strip()
    if not clean or len(clean) > 200:
        raise Invalid(f"{what} must have 1 to 200 characters", code="invalid_name")
    return clean


class ConnectionService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        supervisor: Supervisor,
        *,
        max_global: int,
        max_per_org: int,
        secret: str = "",
        node_timeout: float = HOP_TIMEOUT,
    ) -> None:
        """``secret``: signs commands carried to another node of a cluster;
        ``node_timeout``: how long such a command's answer is awaited."""
        self._box = supervisor.box
        self._db = db
        self._clock = clock
        self.supervisor = supervisor
        self.commands = Commands(db, clock, supervisor, secret=secret, timeout=node_timeout)
        self._removal = ConnectionRemoval(db, clock, supervisor, self.commands)
        self._max_global = max_global
        self._max_per_org = max_per_org

    # ------------------------------------------------------------ reading

    async def _get(
        self, s: AsyncSession, principal: Principal, connection_id: str
    ) -> ConnectionRow:
        row = await s.get(ConnectionRow, connection_id)
        if row is None or row.organization_id != principal.organization_id:
            raise NotFound("connection not found", code="connection_not_found")
        return row

    async def get(self, principal: Principal, connection_id: str) -> ConnectionRow:
        async with self._db.read() as s:
            return await self._get(s, principal, connection_id)

    async def find(
        self,
        principal: Principal,
        *,
        state: ConnectionState | None = None,
        q: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[ConnectionRow]:
        check_limit(limit)
        query = (
            select(ConnectionRow)
            .where(ConnectionRow.organization_id == principal.organization_id)
            .order_by(ConnectionRow.id)
            .limit(limit + 1)
        )
        if state is not None:
            query = query.where(ConnectionRow.state == state.value)
        if q and q.strip():
            query = query.where(
                contains_text(
                    q.strip(), ConnectionRow.name, ConnectionRow.label, ConnectionRow.phone
                )
            )
        if cursor:
            (after,) = decode_cursor(cursor, 1)
            query = query.where(ConnectionRow.id > str(after))
        async with self._db.read() as s:
            rows = list((await s.scalars(query)).all())
        return page_by_id(rows, limit)

    async def list_all(self) -> list[ConnectionRow]:
        """Every connection of every organization (CLI, operators)."""
        async with self._db.read() as s:
            return list((await s.scalars(select(ConnectionRow).order_by(ConnectionRow.id))).all())

    # ------------------------------------------------------------ writing

    async def create(
        self,
        principal: Principal,
        *,
        name: str,
        label: str | None = None,
        is_primary: bool = False,
    ) -> ConnectionRow:
        principal.require(Role.ADMIN)
        now = self._clock.now()
        async with self._db.write() as s:
            total = int(await s.scalar(select(func.count()).select_from(ConnectionRow)) or 0)
            if total >= self._max_global:
                raise Conflict(
                    f"this server allows at most {self._max_global} connections",
                    code="connection_limit",
                )
            mine = int(
                await s.scalar(
                    select(func.count())
                    .select_from(ConnectionRow)
                    .where(ConnectionRow.organization_id == principal.organization_id)
                )
                or 0
            )
            if mine >= self._max_per_org:
                raise Conflict(
                    f"an organization may have at most {self._max_per_org} connections",
                    code="connection_limit",
                )
            # The first connection of an organization is its primary.
            primary = is_primary or mine == 0
            if primary:
                await self._clear_primary(s, principal.organization_id)
            lease = self.supervisor.lease_for_new()
            row = ConnectionRow(
                id=new_id(),
                organization_id=principal.organization_id,
                node_id=lease[0] if lease else None,
                lease_epoch=lease[1] if lease else 0,
                name=_clean_name(name, "name"),
                label=label.strip() or None if label else None,
                state=ConnectionState.IDLE.value,
                is_primary=primary,
                linked=False,
                attempt=0,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            await s.flush()
            await append_event(
                s,
                organization_id=row.organization_id,
                connection_id=row.id,
                type=EventType.CONNECTION_CREATED,
                data=connection_payload(row),
                created_at=now,
            )
        if lease is not None or self.supervisor.node_id is None:
            self.supervisor.add(row)
        return row

    async def _clear_primary(self, s: AsyncSession, organization_id: str) -> None:
        await s.execute(
            update(ConnectionRow)
            .where(ConnectionRow.organization_id == organization_id, ConnectionRow.is_primary)
            .values(is_primary=False)
        )

    async def update(
        self,
        principal: Principal,
        connection_id: str,
        *,
        name: str | None = None,
        label: str | None = _UNSET,
        is_primary: bool | None = None,
        rate_limit_per_minute: int | None = _UNSET,
        daily_cap: int | None = _UNSET,
        **settings: Any,
    ) -> ConnectionRow:
        """``settings``: the behaviour (``connection_behaviour.SETTINGS``)."""
        principal.require(Role.ADMIN)
        now = self._clock.now()
        async with self._db.write() as s:
            row = await self._get(s, principal, connection_id)
            apply_settings(row, settings, self._box)
            if name is not None:
                row.name = _clean_name(name, "name")
            if label is not _UNSET:
                row.label = label.strip() or None if label else None
            if is_primary is True and not row.is_primary:
                await self._clear_primary(s, row.organization_id)
                row.is_primary = True
            elif is_primary is False:
                row.is_primary = False
            if rate_limit_per_minute is not _UNSET:
                row.rate_limit_per_minute = rate_limit_per_minute
            if daily_cap is not _UNSET:
                row.daily_cap = daily_cap
            # Always moves on, whatever this node's clock says of the last writer's: in a
            # cluster the node running the connection reads its settings again when it
            # does (``Supervisor.catch_up``).
            row.updated_at = max(now, row.updated_at + timedelta(microseconds=1))
            await s.flush()
            await append_event(
                s,
                organization_id=row.organization_id,
                connection_id=row.id,
                type=EventType.CONNECTION_UPDATED,
                data=connection_payload(row),
                created_at=now,
            )
        try:
            await self.commands.run(row.id, "configure")
        except (RunsElsewhere, RemoteError) as exc:
            if exc.code not in ("node_unreachable", "connection_moving"):
                raise
            # Saved all the same: the node that runs it applies it at its next lease
            # round (``Supervisor.catch_up``), a node that claims it reads it at start.
            log.info(
                "settings saved; their node applies them at its next lease round",
                extra={"connection_id": row.id, "reason": exc.code},
            )
        return row

    async def seal_stored(self) -> int:
        """At start, before any session opens: seal the proxy URLs saved before they were
        encrypted (the whole URL in ``proxy_url``); answers how many were sealed."""
        if self._box is None:
            return 0
        sealed = 0
        async with self._db.write() as s:
            rows = (
                await s.scalars(
                    select(ConnectionRow).where(
                        ConnectionRow.proxy_url.is_not(None), ConnectionRow.proxy_secret.is_(None)
                    )
                )
            ).all()
            for row in rows:
                if needs_sealing(row):
                    store_proxy(row, row.proxy_url, self._box)
                    sealed += 1
        return sealed

    async def delete(self, principal: Principal, connection_id: str) -> None:
        """Delete its session and then it, where it runs (``connection_removal.py``)."""
        principal.require(Role.ADMIN)
        row = await self.get(principal, connection_id)
        await self._removal.delete(row.id)

    # ------------------------------------------------------------ lifecycle commands

    # In a cluster each runs on the node holding the connection's lease
    # (``services/commands.py``); the caller's rights are checked here first.

    async def start(self, principal: Principal, connection_id: str) -> ConnectionRow:
        principal.require(Role.MANAGER)
        row = await self.get(principal, connection_id)
        await self.commands.run(row.id, "start")
        return await self.get(principal, connection_id)

    async def stop(self, principal: Principal, connection_id: str) -> ConnectionRow:
        principal.require(Role.MANAGER)
        row = await self.get(principal, connection_id)
        await self.commands.run(row.id, "stop")
        return await self.get(principal, connection_id)

    async def reconnect(self, principal: Principal, connection_id: str) -> ConnectionRow:
        principal.require(Role.MANAGER)
        row = await self.get(principal, connection_id)
        await self.commands.run(row.id, "reconnect")
        return await self.get(principal, connection_id)

    async def logout(self, principal: Principal, connection_id: str) -> ConnectionRow:
        principal.require(Role.ADMIN)
        row = await self.get(principal, connection_id)
        await self.commands.run(row.id, "logout")
        return await self.get(principal, connection_id)

    async def set_presence(self, principal: Principal, connection_id: str, available: bool) -> None:
        """Show the number online or offline to its contacts now (WhatsApp keeps it
        until changed or the connection drops; ``always_online`` re-announces it)."""
        principal.require(Role.AGENT)
        row = await self.get(principal, connection_id)
        if not await self.commands.is_ready(row.id):
            raise Conflict("the connection is not ready", code="connection_not_ready")
        await self.commands.engine_call(row.id, "set_presence", available)

    async def pairing_code(
        self, principal: Principal, connection_id: str, *, phone: str
    ) -> PairingCode:
        principal.require(Role.MANAGER)
        digits = normalize_phone(phone)
        row = await self.get(principal, connection_id)
        return pairing_from(await self.commands.run(row.id, "pairing_code", {"phone": digits}))

    async def qr(self, principal: Principal, connection_id: str) -> QrCode:
        row = await self.get(principal, connection_id)
        found = await self.commands.run(row.id, "qr")
        expires = datetime.fromisoformat(found["expires_at"])
        return QrCode(found["code"], expires, int(found["index"]), int(found["total"]))

    async def events(
        self, principal: Principal, connection_id: str, *, limit: int, cursor: str | None
    ) -> Page[ConnectionEventRow]:
        check_limit(limit)
        query = (
            select(ConnectionEventRow)
            .where(ConnectionEventRow.connection_id == connection_id)
            .order_by(ConnectionEventRow.id.desc())
            .limit(limit + 1)
        )
        if cursor:
            (before,) = decode_cursor(cursor, 1)
            if not isinstance(before, int):
                raise Invalid("cursor is not valid", code="invalid_cursor")
            query = query.where(ConnectionEventRow.id < before)
        async with self._db.read() as s:
            await self._get(s, principal, connection_id)
            rows = list((await s.scalars(query)).all())
        more = len(rows) > limit
        items = rows[:limit]
        return Page(items=items, next_cursor=encode_cursor(items[-1].id) if more else None)

    async def counts_by_state(self, principal: Principal) -> dict[str, int]:
        async with self._db.read() as s:
            rows = await s.execute(
                select(ConnectionRow.state, func.count())
                .where(ConnectionRow.organization_id == principal.organization_id)
                .group_by(ConnectionRow.state)
            )
            found = {state: int(n) for state, n in rows.all()}
        return {state.value: found.get(state.value, 0) for state in ConnectionState}

    async def stats(self, principal: Principal, connection_id: str) -> dict[str, Any]:
        async with self._db.read() as s:
            row = await self._get(s, principal, connection_id)
            return await connection_stats(s, row)
