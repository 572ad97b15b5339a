"""The connection recorder's group commit in the running server, given a batch that
fails on one of its changes: every other change of that batch is written, and only the
runner that made the bad one hears of it (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import Server
from tests.integration.api.helpers import create_connection
from zapgate.sessions.steps import Change
from zapgate.store.tables.connections import ConnectionEventRow, ConnectionRow
from zapgate.store.tables.events import EventRow


async def test_a_batch_of_changes_failing_on_one_writes_every_other_change(
    server: Server,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = ["one", "two", "poison", "three"]
    ids = {name: (await create_connection(client, admin, name))["id"] for name in names}
    supervisor = server.runtime.supervisor
    recorder = supervisor._recorder
    apply = recorder._apply
    # Which "starting" changes each transaction saw, told apart by its session (kept
    # alive so that no id is reused).
    seen: dict[int, list[str]] = {}
    sessions: list[AsyncSession] = []

    def failing(s: AsyncSession, row: ConnectionRow, change: Change) -> None:
        if change.kind == "starting":
            if id(s) not in seen:
                sessions.append(s)
                seen[id(s)] = []
            seen[id(s)].append(row.name)
            if row.name == "poison":
                raise RuntimeError("cannot record this one")
        apply(s, row, change)

    monkeypatch.setattr(recorder, "_apply", failing)
    # Four runners start at once: their first changes share one transaction.
    results = await asyncio.gather(
        *(supervisor.get(ids[name]).start() for name in names), return_exceptions=True
    )

    # The shared transaction stopped at the bad change; each was then written alone.
    assert list(seen.values()) == [
        ["one", "two", "poison"],
        ["one"],
        ["two"],
        ["poison"],
        ["three"],
    ]
    assert [results[n] for n in (0, 1, 3)] == [None, None, None]
    assert isinstance(results[2], RuntimeError)
    assert str(results[2]) == "cannot record this one"
    async with server.runtime.db.read() as s:
        lines = (
            await s.execute(select(ConnectionEventRow.connection_id, ConnectionEventRow.kind))
        ).all()
        statuses: list[Any] = list(
            (await s.scalars(select(EventRow).where(EventRow.type == "connection.status"))).all()
        )
        poison = await s.get(ConnectionRow, ids["poison"])
    started = {cid for cid, kind in lines if kind == "starting"}
    assert started == {ids["one"], ids["two"], ids["three"]}
    assert ids["poison"] not in {cid for cid, _ in lines}
    assert {e.connection_id for e in statuses if e.data["previous_state"] == "idle"} == started
    assert ids["poison"] not in {e.connection_id for e in statuses}
    assert poison is not None
    assert poison.state == "idle"
    assert supervisor.get(ids["poison"]).state.value == "idle"
