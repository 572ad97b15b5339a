"""``store/sqlite_driver.py`` builds on private parts of SQLAlchemy's aiosqlite adapter and of
aiosqlite. Both are pinned in pyproject.toml; these tests fail loudly, naming the part, when
an upgrade changes one of them, instead of the driver misbehaving at run time."""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path

import aiosqlite
import pytest
import sqlalchemy
from sqlalchemy import text
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
)

from zapgate.store import sqlite_driver
from zapgate.store.db import Database

PYPROJECT = Path(__file__).parents[3] / "pyproject.toml"


def _pinned(name: str) -> str:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    for spec in dependencies:
        found = re.fullmatch(rf"{name}(\[[^\]]*\])?==(?P<version>[\w.]+)", spec)
        if found:
            return found["version"]
    raise AssertionError(f"{name} is not pinned with == in pyproject.toml")


@pytest.mark.parametrize(
    ("name", "installed"),
    [("sqlalchemy", sqlalchemy.__version__), ("aiosqlite", aiosqlite.__version__)],
)
def test_the_installed_versions_are_the_pinned_ones(name: str, installed: str) -> None:
    assert installed == _pinned(name), (
        f"{name} {installed} is installed but {_pinned(name)} is pinned: run this file's "
        "tests against the new version, then move the pin"
    )


def _slots(cls: type) -> set[str]:
    return {slot for klass in cls.__mro__ for slot in getattr(klass, "__slots__", ())}


def test_the_adapter_cursor_still_has_what_the_one_trip_cursor_sets() -> None:
    assert {"_adapt_connection", "_connection", "_cursor", "_rows", "_soft_closed_memoized"} <= (
        _slots(AsyncAdapt_aiosqlite_cursor)
    )
    assert hasattr(AsyncAdapt_aiosqlite_cursor, "_awaitable_cursor_close")
    for method in ("_execute_async", "_executemany_async"):
        params = list(inspect.signature(getattr(AsyncAdapt_aiosqlite_cursor, method)).parameters)
        assert len(params) == 3, (method, params)


def test_the_adapter_connection_still_has_what_the_driver_uses() -> None:
    assert hasattr(AsyncAdapt_aiosqlite_connection, "_cursor_cls")
    assert "_execute_mutex" in _slots(AsyncAdapt_aiosqlite_connection)
    assert "_connection" in _slots(AsyncAdapt_aiosqlite_connection)
    for method in ("commit", "rollback"):
        assert callable(getattr(AsyncAdapt_aiosqlite_connection, method))


def test_aiosqlite_still_runs_work_in_its_thread_the_same_way() -> None:
    # ``_execute(fn)`` queues ``fn`` on the connection's thread; ``_conn`` is the
    # sqlite3 connection that thread owns.
    assert inspect.iscoroutinefunction(aiosqlite.Connection._execute)
    assert list(inspect.signature(aiosqlite.Connection._execute).parameters)[:2] == [
        "self",
        "fn",
    ]
    assert isinstance(inspect.getattr_static(aiosqlite.Connection, "_conn"), property)


async def test_statements_go_through_the_one_trip_cursor(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'z.db'}")
    try:
        async with db.write() as session:
            connection = await session.connection()
            raw = await connection.get_raw_connection()
            adapted = raw.driver_connection
            assert isinstance(raw.dbapi_connection, sqlite_driver._Connection)
            assert adapted is not None
            assert isinstance(raw.dbapi_connection.cursor(), sqlite_driver.OneTripCursor)
            assert (await session.execute(text("SELECT 40 + 2"))).scalar() == 42
    finally:
        await db.close()
