"""aiosqlite as SQLAlchemy drives it, with one trip to the database thread per statement.

SQLAlchemy's aiosqlite adapter makes each statement several round trips to aiosqlite's
thread: create the cursor, execute, fetch the rows, close the cursor. Each trip waits
for its turn on a busy event loop (about a millisecond under load), so a group commit
of ten statements spent most of its time queued, not working. This cursor does all
four in one function run in that thread and keeps a snapshot of what SQLAlchemy reads
afterwards (rows, description, row count, last row id).

Only the buffered cursor changes; server-side cursors, connections, transactions and
errors are aiosqlite's and SQLAlchemy's own. ``Database`` installs it by passing
:func:`dbapi` as the engine's ``module``.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT

T = TypeVar("T")


class _Done:
    """What SQLAlchemy reads from a cursor after it ran (the real one is closed)."""

    __slots__ = ("description", "lastrowid", "rowcount")

    arraysize = 1

    def __init__(self, cursor: sqlite3.Cursor | None = None) -> None:
        self.description = cursor.description if cursor is not None else None
        self.rowcount = cursor.rowcount if cursor is not None else -1
        self.lastrowid = cursor.lastrowid if cursor is not None else None

    def close(self) -> None:
        pass


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    # Nothing to close on the loop: the thread closed the real cursor.
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = _Done()  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]

        def run() -> tuple[_Done, list[Any] | None]:
            cursor = connection._conn.cursor()
            try:
                if parameters is None:
                    cursor.execute(operation)
                else:
                    cursor.execute(operation, parameters)
                rows = cursor.fetchall() if cursor.description else None
                return _Done(cursor), rows
            finally:
                cursor.close()

        async with self._adapt_connection._execute_mutex:
            done, rows = await _in_thread(connection, run)
        self._cursor = done  # type: ignore[assignment]
        if rows is not None:
            self._rows = collections.deque(rows)
        return None

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]

        def run() -> _Done:
            cursor = connection._conn.cursor()
            try:
                cursor.executemany(operation, seq_of_parameters)
                return _Done(cursor)
            finally:
                cursor.close()

        async with self._adapt_connection._execute_mutex:
            done = await _in_thread(connection, run)
        self._cursor = done  # type: ignore[assignment]
        return None


async def _in_thread(connection: aiosqlite.Connection, function: Callable[[], T]) -> T:
    """Run ``function`` in the connection's thread, in its queue of work."""
    result: T = await connection._execute(function)  # type: ignore[no-untyped-call]
    return result


class _Connection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor  # type: ignore[assignment]


class _Dbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        adapted.__class__ = _Connection
        return adapted


def dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    return _Dbapi(aiosqlite, sqlite3)
