"""A connection still held by a straggling task when the database closes is closed too,
not left for the garbage collector (an unclosed socket, a warning in a later test)."""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest
from sqlalchemy import text

from zapgate.store.db import Database


async def test_close_ends_connections_still_checked_out(database_url: str) -> None:
    database = Database(database_url)
    holding = asyncio.Event()
    release = asyncio.Event()

    async def straggler() -> None:
        async with database.read() as session:
            await session.execute(text("SELECT 1"))
            holding.set()
            await release.wait()

    task = asyncio.create_task(straggler())
    await holding.wait()
    await database.close()
    assert database.connections_in_use() == 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del task
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
