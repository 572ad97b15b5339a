"""Start-up in a shared database: one node at a time migrates and creates the first admin.

On PostgreSQL a session-level advisory lock, held on its own connection around both
steps, serializes nodes started at the same moment: the first migrates, the others find
the schema current and the admin present. On SQLite the file admits one server: a second
server on the same database file is refused (a lock file beside it).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import make_url, text

from zapgate.store.db import Database

STARTUP_LOCK_KEY = 0x7A617067_01
"""``pg_advisory_lock`` key of the start-up section (distinct from the event log's)."""


class SecondNode(RuntimeError):
    """Another server already runs on this SQLite database."""


@asynccontextmanager
async def startup_section(db: Database) -> AsyncIterator[None]:
    """Run the block alone among the processes starting on this database (PostgreSQL)."""
    if db.is_sqlite:
        yield
        return
    async with db.engine.connect() as conn:
        await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": STARTUP_LOCK_KEY})
        await conn.commit()
        try:
            yield
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": STARTUP_LOCK_KEY})
            await conn.commit()


class SqliteServerLock:
    """Held by the one server (not a CLI command) of a SQLite database, until it stops."""

    def __init__(self, url: str) -> None:
        database = make_url(url).database
        self.database = database or ""
        self.path = (
            None if not database or database == ":memory:" else Path(database + ".server.lock")
        )
        self._fd: int | None = None

    def acquire(self) -> None:
        if self.path is None:
            return
        # A first start: the database's directory (the data dir) may not exist yet.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise SecondNode(
                "another zapgate server already runs on this SQLite database "
                f"({self.database}); SQLite runs one node only: use PostgreSQL "
                "and ZAPGATE_CLUSTER=true for several (docs/cluster.md)"
            ) from exc
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
