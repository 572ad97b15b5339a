"""SQLite WAL checkpoints from a thread of their own.

In WAL mode a commit appends pages to the ``-wal`` file; a checkpoint copies them back
into the database file and syncs it. SQLite's default is to checkpoint inside the commit
that takes the log past 1,000 pages, which under ``bench/send.py`` was one commit in ten,
each 14-19 ms instead of about 1 ms. The writer's commits run on the event loop
(``sqlite_driver``), where such a stall would hold every request, so the writer only
checkpoints past a far larger safety limit (:data:`WRITER_AUTOCHECKPOINT_PAGES`, reached
only if this task stops) and this task does the work after commits, at most every
``interval`` seconds, in a worker thread with its own connection.

``PASSIVE`` checkpoints wait for no one: readers and the writer carry on while it copies
what they no longer need, and the next write restarts the log once all of it is copied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from pathlib import Path

from zapgate.util.tasks import TaskOwner

log = logging.getLogger(__name__)

WRITER_AUTOCHECKPOINT_PAGES = 16_384
"""The writer checkpoints in its own commit only once the log is this long (64 MiB of
4 KiB pages): a safety net for when the checkpointer is not keeping up."""

FAILING_AFTER = 3
"""Consecutive failed checkpoints after which :meth:`WalCheckpointer.problem` says so."""


class WalCheckpointer:
    """An owned task that checkpoints the database at ``path`` after commits."""

    def __init__(self, path: Path, *, interval: float = 0.5) -> None:
        self.path = path
        self.interval = interval
        self._tasks = TaskOwner("sqlite-checkpoint")
        self._dirty = asyncio.Event()
        self._stop = asyncio.Event()
        self._conn: sqlite3.Connection | None = None
        # Held by the thread that checkpoints and by the last pass at close, which
        # therefore waits for a checkpoint that outlived its cancelled task.
        self._conn_lock = threading.Lock()
        self._closed = False
        self._started = False
        self.runs = 0
        self.failures = 0
        """Checkpoints failed in a row."""
        self.last: tuple[int, int, int] | None = None
        """SQLite's answer to the last checkpoint: (busy, pages in the log, pages copied)."""

    def start(self) -> None:
        self._started = True
        self._tasks.spawn(self._loop(), name="checkpoint")

    def committed(self) -> None:
        """A write committed: the log has pages to copy."""
        self._dirty.set()

    def problem(self) -> str | None:
        if not self._started or self._stop.is_set():
            return None
        if not len(self._tasks):
            return "SQLite checkpointer not running"
        if self.failures >= FAILING_AFTER:
            return f"SQLite checkpoints failing ({self.failures} in a row)"
        return None

    async def close(self) -> None:
        """Let a checkpoint in progress finish, then a last one leaves a short log."""
        self._stop.set()
        self._dirty.set()
        await self._tasks.close(timeout=30.0)
        await asyncio.to_thread(self._final)

    async def _loop(self) -> None:
        while not self._stop.is_set():
            await self._dirty.wait()
            if self._stop.is_set():
                return
            self._dirty.clear()
            try:
                await asyncio.to_thread(self.checkpoint)
            except Exception:
                # The writer's safety limit bounds the log meanwhile; try again later.
                self.failures += 1
                log.exception("SQLite checkpoint failed")
            else:
                self.failures = 0
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):  # not wait_for: see supervisor
                    await self._stop.wait()

    def checkpoint(self) -> tuple[int, int, int]:
        """One ``PASSIVE`` checkpoint (blocking: call it from a thread); returns SQLite's
        ``(busy, pages in the log, pages copied)``."""
        with self._conn_lock:
            if self._closed:
                raise RuntimeError("checkpointer closed")
            if self._conn is None:
                self._conn = sqlite3.connect(
                    self.path, check_same_thread=False, isolation_level=None
                )
            row = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.runs += 1
        self.last = (int(row[0]), int(row[1]), int(row[2]))
        return self.last

    def _final(self) -> None:
        """A last pass, so a clean shutdown leaves a short log; then no more."""
        with self._conn_lock:
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is None:
                return
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                conn.close()
