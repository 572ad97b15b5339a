"""The WAL checkpointer: the log is copied into the database file off the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import eventually
from zapgate.store.checkpoint import WRITER_AUTOCHECKPOINT_PAGES, WalCheckpointer
from zapgate.store.db import Database


async def test_commits_leave_the_log_to_the_checkpointer(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'z.db'}")
    async with db.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)"))
        autocheckpoint = (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one()
    assert autocheckpoint == WRITER_AUTOCHECKPOINT_PAGES
    db.start()
    assert db.problem() is None
    for _ in range(5):
        async with db.write(in_loop=True) as s:
            await s.execute(
                text("INSERT INTO t (body) VALUES (:b)"), [{"b": "x" * 500} for _ in range(3)]
            )
    checkpointer = db._checkpointer
    assert checkpointer is not None

    async def copied() -> bool:
        last = checkpointer.last
        return last is not None and last[1] > 0 and last[2] == last[1]

    await eventually(copied, what="a checkpoint that copied the whole log")
    await db.close()
    assert checkpointer.problem() is None  # stopped on purpose, not dead


async def test_checkpoint_copies_what_a_writer_left(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE t (body TEXT)")
    writer.executemany("INSERT INTO t VALUES (?)", [("y" * 1000,) for _ in range(100)])
    checkpointer = WalCheckpointer(path)
    busy, logged, copied = await asyncio.to_thread(checkpointer.checkpoint)
    assert (busy, copied) == (0, logged)
    assert logged > 20
    assert checkpointer.runs == 1
    writer.close()


async def test_a_failed_checkpoint_is_logged_and_the_task_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    checkpointer = WalCheckpointer(tmp_path / "missing" / "x.db", interval=0)
    assert checkpointer.problem() is None  # never started: nothing to report
    checkpointer.start()
    checkpointer.committed()  # the database cannot be opened: this pass fails

    async def logged() -> bool:
        return "SQLite checkpoint failed" in caplog.text

    await eventually(logged, what="the failure in the log")
    assert checkpointer.problem() is None  # still running, waiting for the next commit
    for failures in (2, 3):
        checkpointer.committed()

        async def failed(n: int = failures) -> bool:
            return checkpointer.failures == n

        await eventually(failed, what=f"failure {failures}")
    assert checkpointer.problem() == "SQLite checkpoints failing (3 in a row)"
    await checkpointer.close()
    assert checkpointer.problem() is None  # stopped on purpose
