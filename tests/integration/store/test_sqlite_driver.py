"""The one-trip aiosqlite cursor: same results as SQLAlchemy's, one thread trip each, or
none for a short write transaction."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from zapgate.store import sqlite_driver
from zapgate.store.db import Database


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(fn, "__name__", "?"))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return calls


async def test_statements_results_and_trips(tmp_path: Path, trips: list[str]) -> None:
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", module=sqlite_driver.dbapi()
    )
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
        trips.clear()
        inserted = await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
        assert inserted.lastrowid == 1
        assert trips == ["run"]
        many = await conn.execute(
            text("INSERT INTO t (name) VALUES (:name)"), [{"name": "b"}, {"name": "c"}]
        )
        assert many.rowcount == 2
        updated = await conn.execute(text("UPDATE t SET name = name || '!' WHERE id > 1"))
        assert updated.rowcount == 2
        trips.clear()
        rows = (await conn.execute(text("SELECT id, name FROM t ORDER BY id"))).all()
        assert [tuple(r) for r in rows] == [(1, "a"), (2, "b!"), (3, "c!")]
        assert trips == ["run"]
        returned = await conn.execute(text("INSERT INTO t (name) VALUES ('d') RETURNING id"))
        assert returned.scalar_one() == 4
        with pytest.raises(IntegrityError):
            await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 4
    await engine.dispose()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'z.db'}")
    async with database.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    yield database
    await database.close()


async def _thread_of_statements(s: AsyncSession) -> int:
    """The thread that runs ``s``'s statements, asked of SQLite itself."""
    raw = await (await s.connection()).get_raw_connection()
    sqlite: sqlite3.Connection = raw.dbapi_connection._connection._conn  # type: ignore[union-attr]
    sqlite.create_function("tid", 0, threading.get_ident)
    return int((await s.execute(text("SELECT tid()"))).scalar_one())


async def test_short_transaction_runs_on_the_loop_with_no_trip(
    db: Database, trips: list[str]
) -> None:
    async with db.write() as s:
        assert await _thread_of_statements(s) != threading.get_ident()
    trips.clear()
    async with db.write(in_loop=True) as s:
        assert await _thread_of_statements(s) == threading.get_ident()
        await s.execute(text("INSERT INTO t (name) VALUES (:n)"), [{"n": "a"}, {"n": "b"}])
        rows = (await s.execute(text("SELECT name FROM t ORDER BY id"))).scalars().all()
        assert rows == ["a", "b"]
    # BEGIN, the statements, the commit and the pool's return: none went to the thread.
    assert trips == []
    async with db.read() as s:
        assert (await s.execute(text("SELECT count(*) FROM t"))).scalar_one() == 2


async def test_short_transaction_rolls_back_on_the_loop(db: Database, trips: list[str]) -> None:
    async def twice() -> None:
        async with db.write(in_loop=True) as s:
            await s.execute(text("INSERT INTO t (name) VALUES ('x')"))
            await s.execute(text("INSERT INTO t (name) VALUES ('x')"))

    with pytest.raises(IntegrityError):
        await twice()
    assert trips == []
    async with db.write(in_loop=True) as s:
        assert (await s.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0


async def test_a_large_statement_still_takes_the_trip(db: Database, trips: list[str]) -> None:
    names = [{"n": f"n{i}"} for i in range(10 + sqlite_driver.IN_LOOP_MAX_VALUES + 1)]
    async with db.write(in_loop=True) as s:
        await s.execute(text("INSERT INTO t (name) VALUES (:n)"), names[:10])
        assert trips == []
        await s.execute(text("INSERT INTO t (name) VALUES (:n)"), names[10:])
        assert trips == ["run"]
    async with db.read() as s:
        assert (await s.execute(text("SELECT count(*) FROM t"))).scalar_one() == len(names)


async def test_begin_waits_in_the_thread_while_another_process_writes(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = asyncio.Event()
    original = aiosqlite.Connection._execute

    async def spied(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        sent.set()
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", spied)
    other = sqlite3.connect(tmp_path / "z.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t (name) VALUES ('other')")

    async def write() -> None:
        async with db.write(in_loop=True) as s:
            await s.execute(text("INSERT INTO t (name) VALUES ('ours')"))

    task = asyncio.create_task(write())
    await sent.wait()  # BEGIN found the lock taken and went to wait in the thread...
    assert not task.done()  # ...while the loop (this test) carries on
    other.execute("COMMIT")
    other.close()
    await task
    async with db.read() as s:
        names = (await s.execute(text("SELECT name FROM t ORDER BY id"))).scalars().all()
    assert names == ["other", "ours"]


async def test_returning_a_connection_costs_no_rollback_trip(
    db: Database, trips: list[str]
) -> None:
    async with db.read() as s:  # opens the connection (several trips)
        await s.execute(text("SELECT count(*) FROM t"))
    trips.clear()
    async with db.read() as s:
        await s.execute(text("SELECT count(*) FROM t"))
    assert trips == ["run"]


async def test_short_read_runs_on_the_loop_and_ends_with_its_session(db: Database) -> None:
    async with db.read(in_loop=True) as s:
        assert await _thread_of_statements(s) == threading.get_ident()
    async with db.read() as s:  # the same pooled connection, back to its thread
        assert await _thread_of_statements(s) != threading.get_ident()
