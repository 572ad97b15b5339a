"""aiosqlite as SQLAlchemy drives it, with one trip to the database thread per statement,
and none at all for the writer's short transactions.

SQLAlchemy's aiosqlite adapter makes each statement several round trips to aiosqlite's
thread: create the cursor, execute, fetch the rows, close the cursor. Each trip waits
for its turn on a busy event loop, twice (the thread's answer, then the task's wake-up),
and the thread then waits for the GIL, so a group commit of ten statements spent most of
its time queued, not working. This cursor does all four in one function run in that
thread and keeps a snapshot of what SQLAlchemy reads afterwards (rows, description, row
count, last row id).

A write transaction that declares itself short (``Database.write(in_loop=True)``: keyed
reads and inserts of a bounded size) goes further: its statements and its commit run on
the event loop's own thread, with no trip at all. That is safe because such a statement
takes as long as a trip's bookkeeping (tens of microseconds to a few milliseconds), and
because nothing it does can wait: the transaction already holds SQLite's write lock, and
the commit never checkpoints (``store/checkpoint.py`` does that from a thread of its
own). Statements over :data:`IN_LOOP_MAX_VALUES` bound values still take the trip.

``BEGIN IMMEDIATE`` is the one statement that can wait (for another process's write
lock), so it is first tried on the loop with no busy timeout, and only if the lock is
taken sent to the thread to wait there.

Only the buffered cursor and the connection's commit and rollback change; server-side
cursors, errors and everything else are aiosqlite's and SQLAlchemy's own. ``Database``
installs it by passing :func:`dbapi` as the engine's ``module``.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Callable, Sequence, Sized
from threading import Thread
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT, await_

T = TypeVar("T")

BEGIN_IMMEDIATE = "BEGIN IMMEDIATE"
BUSY_TIMEOUT_MS = 10_000
"""How long a statement sent to the thread waits for another process's write lock."""

IN_LOOP_MAX_VALUES = 2048
"""Largest statement (in bound values) run on the loop: about 2-4 ms of SQLite work."""


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
        adapted: _Connection = self._adapt_connection  # type: ignore[assignment]

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

        if operation == BEGIN_IMMEDIATE and _begin_without_waiting(connection._conn):
            done, rows = _Done(), None
        elif adapted.in_loop and _values(parameters) <= IN_LOOP_MAX_VALUES:
            done, rows = run()
        else:
            async with adapted._execute_mutex:
                done, rows = await _in_thread(connection, run)
        self._cursor = done  # type: ignore[assignment]
        if rows is not None:
            self._rows = collections.deque(rows)
        return None

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        adapted: _Connection = self._adapt_connection  # type: ignore[assignment]

        def run() -> _Done:
            cursor = connection._conn.cursor()
            try:
                cursor.executemany(operation, seq_of_parameters)
                return _Done(cursor)
            finally:
                cursor.close()

        if adapted.in_loop and _many_values(seq_of_parameters) <= IN_LOOP_MAX_VALUES:
            done = run()
        else:
            async with adapted._execute_mutex:
                done = await _in_thread(connection, run)
        self._cursor = done  # type: ignore[assignment]
        return None


async def _in_thread(connection: aiosqlite.Connection, function: Callable[[], T]) -> T:
    """Run ``function`` in the connection's thread, in its queue of work."""
    result: T = await connection._execute(function)  # type: ignore[no-untyped-call]
    return result


def _values(parameters: Any) -> int:
    return len(parameters) if isinstance(parameters, Sized) else 0


def _many_values(seq_of_parameters: Any) -> int:
    if not isinstance(seq_of_parameters, Sequence):
        return IN_LOOP_MAX_VALUES + 1  # unknown size: let the thread take it
    if not seq_of_parameters:
        return 0
    return len(seq_of_parameters) * _values(seq_of_parameters[0])


def _begin_without_waiting(conn: sqlite3.Connection) -> bool:
    """``BEGIN IMMEDIATE`` on the calling thread if the write lock is free; False if
    another connection holds it (the caller then waits in the thread)."""
    conn.execute("PRAGMA busy_timeout=0")
    try:
        conn.execute(BEGIN_IMMEDIATE)
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:  # or an extended BUSY_*
            return False
        raise
    finally:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return True


class _Connection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("in_loop",)
    _cursor_cls = OneTripCursor  # type: ignore[assignment]

    def __init__(self, dbapi: Any, connection: aiosqlite.Connection) -> None:
        super().__init__(dbapi, connection)  # type: ignore[arg-type]
        self.in_loop = False
        """Until this transaction ends, run statements and the commit on the loop."""

    def commit(self) -> None:
        self._end("commit")

    def rollback(self) -> None:
        self._end("rollback")

    def _end(self, how: str) -> None:
        in_loop, self.in_loop = self.in_loop, False
        conn = self._connection._connection
        if conn is None:
            return  # closed: nothing to end (as SQLAlchemy's own adapter)
        if not conn.in_transaction:
            # The pool "resets" every connection it gets back with a rollback, after
            # the commit that just ended the transaction: that trip would do nothing.
            return
        if not in_loop:
            if how == "commit":
                super().commit()
            else:
                super().rollback()
            return
        try:
            if how == "commit":
                conn.commit()
            else:
                conn.rollback()
        except Exception as error:
            self._handle_exception(error)


class _Dbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        # As SQLAlchemy's own connect, building our connection class. The statements run
        # on the loop use the sqlite3 connection from the loop's thread.
        kw["check_same_thread"] = False
        connection = self.aiosqlite.connect(*arg, **kw)
        thread = connection if isinstance(connection, Thread) else connection._thread
        thread.daemon = True
        return _Connection(self, await_(connection))


def run_in_loop(dbapi_connection: Any) -> None:
    """Run the rest of the current transaction of ``dbapi_connection`` (one of this
    module's) on the event loop's thread; its commit or rollback ends that."""
    if isinstance(dbapi_connection, _Connection):
        dbapi_connection.in_loop = True


def dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    return _Dbapi(aiosqlite, sqlite3)
