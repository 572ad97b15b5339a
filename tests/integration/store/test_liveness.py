"""Pooled PostgreSQL connections are checked before they are lent only after resting
(``store/liveness.py``): one whose server side went away while idle (a database
restart, an idle timeout; here ``pg_terminate_backend``) is replaced before use, so the
next transaction works; a connection just handed back is lent without a round trip."""

from __future__ import annotations

import asyncpg
from sqlalchemy import text

from tests.conftest import _truncate_pg
from zapgate.store.db import Database


async def _backend_pid(db: Database) -> int:
    async with db.read() as s:
        pid = await s.scalar(text("SELECT pg_backend_pid()"))
    assert isinstance(pid, int)
    return pid


async def _terminate(url: str, pid: int) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await conn.close()


async def test_a_connection_killed_while_idle_is_replaced_before_use(pg_database: str) -> None:
    await _truncate_pg(pg_database)
    db = Database(pg_database, pool_size=1, max_overflow=0, ping_after_idle=0.0)
    try:
        first = await _backend_pid(db)
        await _terminate(pg_database, first)
        # Rested (0 s here): pinged at checkout, found dead, replaced; no error.
        second = await _backend_pid(db)
        assert second != first
    finally:
        await db.close()


async def test_a_connection_just_returned_is_lent_without_a_ping(pg_database: str) -> None:
    await _truncate_pg(pg_database)
    db = Database(pg_database, pool_size=1, max_overflow=0, ping_after_idle=3600.0)
    try:
        first = await _backend_pid(db)
        await _terminate(pg_database, first)
        # Not rested: lent as it is, and the transaction finds it dead (the pool then
        # replaces it: the one after works).
        failed = False
        try:
            await _backend_pid(db)
        except Exception:
            failed = True
        assert failed
        assert await _backend_pid(db) != first
    finally:
        await db.close()
