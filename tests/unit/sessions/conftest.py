"""Fixtures for sessions/: a database (SQLite unless a test module asks for both) and an
organization to put connections in."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.unit.sessions.kit import add_organization
from zapgate.store.db import Database
from zapgate.util.clock import ManualClock


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    target = tmp_path / "zapgate.db"
    shutil.copy(sqlite_template, target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture
async def db(sqlite_url: str) -> AsyncIterator[Database]:
    database = Database(sqlite_url)
    yield database
    await database.close()


@pytest.fixture
async def org_id(db: Database, clock: ManualClock) -> str:
    return await add_organization(db, clock)
