"""How SQLite's writer commits: the ``synchronous`` level in force matches the setting."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from zapgate.config import Settings, SqliteSynchronous
from zapgate.runtime import Runtime
from zapgate.store.db import Database

LEVELS = {"normal": 1, "full": 2}
"""What ``PRAGMA synchronous`` answers for each level."""


async def levels_in_force(db: Database) -> tuple[int, int, int]:
    """The level on the writer (in the driver's thread and on the loop) and on a reader."""
    async with db.write() as session:
        threaded = (await session.execute(text("PRAGMA synchronous"))).scalar_one()
    async with db.write(in_loop=True) as session:
        in_loop = (await session.execute(text("PRAGMA synchronous"))).scalar_one()
    async with db.read() as session:
        read = (await session.execute(text("PRAGMA synchronous"))).scalar_one()
    return threaded, in_loop, read


@pytest.mark.parametrize("level", ["full", "normal"])
async def test_the_writer_commits_at_the_configured_level(tmp_path: Path, level: str) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'z.db'}", synchronous=level)
    try:
        writer, in_loop, read = await levels_in_force(db)
    finally:
        await db.close()
    assert (writer, in_loop) == (LEVELS[level], LEVELS[level])
    assert read == LEVELS["normal"]  # readers never commit a write


async def test_full_is_the_default(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'z.db'}")
    try:
        assert (await levels_in_force(db))[:2] == (LEVELS["full"], LEVELS["full"])
    finally:
        await db.close()
    assert Settings(_env_file=None).sqlite_synchronous is SqliteSynchronous.FULL


def test_an_unknown_level_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous must be one of full, normal"):
        Database(f"sqlite+aiosqlite:///{tmp_path / 'z.db'}", synchronous="off")


@pytest.mark.parametrize("level", ["full", "normal"])
async def test_the_runtime_passes_the_setting_to_the_writer(
    settings_factory: Callable[..., Settings], level: str
) -> None:
    """Through ``ZAPGATE_SQLITE_SYNCHRONOUS``; on PostgreSQL it changes nothing."""
    runtime = Runtime.build(settings_factory(sqlite_synchronous=level))
    try:
        if runtime.db.is_sqlite:
            writer, in_loop, _read = await levels_in_force(runtime.db)
            assert (writer, in_loop) == (LEVELS[level], LEVELS[level])
        else:
            async with runtime.db.write() as session:
                assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await runtime.db.close()
