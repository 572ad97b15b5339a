"""Test kit for sessions/: rows, what was written, and a recording fake engine."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.conftest import eventually
from zapgate.domain.behaviour import Behaviour
from zapgate.domain.errors import EngineError
from zapgate.domain.ids import new_id
from zapgate.domain.messages import ChatPresence
from zapgate.engines.base import NumberCheck, OutgoingMessage, PairingCode, SendResult, SessionSpec
from zapgate.engines.events import EngineEvent, EventSink, GroupInfo, MediaRef
from zapgate.engines.simulator import SimulatorEngine, SimulatorSettings
from zapgate.store.db import Database
from zapgate.store.tables.accounts import OrganizationRow
from zapgate.store.tables.connections import ConnectionEventRow, ConnectionRow
from zapgate.store.tables.events import EventRow
from zapgate.util.backoff import BackoffConfig
from zapgate.util.clock import Clock, ManualClock

PHONE = "5511999990001"
# No jitter: the retry times of a test are exact (2 s, 4 s, 8 s...).
BACKOFF = BackoffConfig(min_delay=2.0, max_delay=300.0, factor=2.0, jitter=0.0)


def simulator(tmp_path: Path, clock: ManualClock) -> SimulatorEngine:
    settings = SimulatorSettings(latency_ms=0, auto_receipts=False)
    return SimulatorEngine(data_dir=tmp_path / "simulator", clock=clock, settings=settings)


async def add_organization(db: Database, clock: Clock) -> str:
    org_id = new_id()
    async with db.write() as s:
        s.add(OrganizationRow(id=org_id, name=f"Org {org_id}", created_at=clock.now()))
    return org_id


async def add_connection(
    db: Database, clock: Clock, org_id: str, name: str = "Shop", **columns: Any
) -> ConnectionRow:
    values: dict[str, Any] = {"state": "idle", "linked": False, "attempt": 0} | columns
    row = ConnectionRow(
        id=new_id(),
        organization_id=org_id,
        name=name,
        created_at=clock.now(),
        updated_at=clock.now(),
        **values,
    )
    async with db.write() as s:
        s.add(row)
    return row


async def load(db: Database, connection_id: str) -> ConnectionRow:
    async with db.read() as s:
        row = await s.get(ConnectionRow, connection_id)
    assert row is not None
    return row


async def connection_log(db: Database, connection_id: str) -> list[ConnectionEventRow]:
    """The connection's log lines, oldest first."""
    async with db.read() as s:
        rows = await s.scalars(
            select(ConnectionEventRow)
            .where(ConnectionEventRow.connection_id == connection_id)
            .order_by(ConnectionEventRow.id)
        )
        return list(rows.all())


async def kinds(db: Database, connection_id: str) -> list[str]:
    return [line.kind for line in await connection_log(db, connection_id)]


async def events(db: Database, connection_id: str, type: str | None = None) -> list[EventRow]:
    """Public events of the connection, oldest first."""
    query = select(EventRow).where(EventRow.connection_id == connection_id)
    if type is not None:
        query = query.where(EventRow.type == type)
    async with db.read() as s:
        return list((await s.scalars(query.order_by(EventRow.id))).all())


async def statuses(db: Database, connection_id: str) -> list[str]:
    """The states published by ``connection.status`` events, in order."""
    return [e.data["state"] for e in await events(db, connection_id, "connection.status")]


async def until(check: Any, what: str) -> None:
    """Wait for the runner's consumer to take in what the engine reported."""

    async def done() -> bool:
        return bool(check())

    await eventually(done, what=what)


class RecordingEngine:
    """A fake engine that records every call, for what the simulator never does on its
    own: a dial that hangs, an ``open_session`` that fails, events at a chosen moment."""

    name = "fake"
    chooses_message_ids = True

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: list[tuple[str, str]] = []
        self.opened: list[tuple[str, float]] = []
        """(session_id, clock.monotonic()) of every open_session."""
        self.open_error: EngineError | None = None
        self.dialing: asyncio.Event | None = None
        """When set to an unset event, open_session waits for it (a hanging dial)."""
        self.alive: set[str] = set()
        self._sink: EventSink | None = None

    def emit(self, event: EngineEvent) -> None:
        assert self._sink is not None
        self._sink(event)

    async def start(self, sink: EventSink) -> None:
        self._sink = sink

    async def close(self) -> None:
        self.calls.append(("close", ""))

    async def open_session(self, spec: SessionSpec) -> None:
        self.calls.append(("open", spec.session_id))
        self.opened.append((spec.session_id, self.clock.monotonic()))
        if self.dialing is not None:
            await self.dialing.wait()
        if self.open_error is not None:
            raise self.open_error

    async def request_pairing_code(self, session_id: str, phone: str) -> PairingCode:
        raise EngineError("not_linking", "the fake engine issues no pairing codes")

    async def close_session(self, session_id: str) -> None:
        self.calls.append(("close_session", session_id))

    async def configure_session(self, session_id: str, behaviour: Behaviour) -> None:
        self.calls.append(("configure", session_id))

    async def logout(self, session_id: str, *, jid: str | None = None) -> None:
        self.calls.append(("logout", session_id))

    async def delete_session(self, session_id: str, *, jid: str | None = None) -> None:
        self.calls.append(("delete_session", session_id))

    async def send(self, session_id: str, message: OutgoingMessage) -> SendResult:
        raise EngineError("not_connected", "the fake engine sends nothing")

    async def mark_read(
        self, session_id: str, chat_jid: str, message_ids: list[str], sender_jid: str | None
    ) -> None:
        raise EngineError("not_connected", "the fake engine reads nothing")

    async def send_presence(self, session_id: str, chat_jid: str, presence: ChatPresence) -> None:
        raise EngineError("not_connected", "the fake engine has no presence")

    async def set_presence(self, session_id: str, available: bool) -> None:
        raise EngineError("not_connected", "the fake engine has no presence")

    async def check_numbers(self, session_id: str, phones: list[str]) -> list[NumberCheck]:
        return []

    async def get_groups(self, session_id: str) -> list[GroupInfo]:
        return []

    async def download_media(self, session_id: str, media: MediaRef) -> bytes:
        raise EngineError("media_not_found", "the fake engine keeps no media")

    async def ping(self, session_id: str) -> bool:
        return session_id in self.alive

    def problem(self) -> str | None:
        return None
