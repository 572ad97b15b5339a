"""Database access: one object owns the engines and the transaction boundary.

SQLite allows one writer at a time. Rather than letting writers collide on the file
lock (``database is locked`` after the busy timeout), writes go through a pool of one
connection that opens ``BEGIN IMMEDIATE`` transactions, so they queue in asyncio and
never deadlock upgrading a read lock. Reads use their own small pool; WAL mode lets
them run while a write is in progress. Short write transactions run on the event loop's
thread (``write(in_loop=True)``, see ``sqlite_driver``), and WAL checkpoints run in a
thread of their own (``checkpoint``). On PostgreSQL both paths share one pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic_core import to_json
from sqlalchemy import event, make_url, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from zapgate.store import sqlite_driver
from zapgate.store.checkpoint import WRITER_AUTOCHECKPOINT_PAGES, WalCheckpointer
from zapgate.store.liveness import IDLE_BEFORE_PING, ping_when_idle

log = logging.getLogger(__name__)

AfterCommit = Callable[[list[Any]], None]

PENDING_EVENTS = "zapgate.pending_events"


def json_text(value: Any) -> str:
    """JSON columns' serializer: pydantic-core's, several times faster than ``json``."""
    return to_json(value).decode()


SYNCHRONOUS = ("full", "normal")
"""SQLite's ``synchronous`` levels the writer may use. In WAL mode ``full`` syncs the log
to disk at every commit, so a committed write survives a power cut or an OS crash;
``normal`` syncs only at checkpoints: a commit survives the process being killed, but
the last ones before a power cut can be lost. Read connections never commit a write,
so they keep ``normal``."""


def _sqlite_pragmas(synchronous: str) -> Callable[[DBAPIConnection, ConnectionPoolEntry], None]:
    def pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={sqlite_driver.BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.close()

    return pragmas


def _immediate(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the driver, issue BEGIN (so it can be IMMEDIATE).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        # Checkpoints are the checkpointer's; the writer's commits stay short.
        cursor.execute(f"PRAGMA wal_autocheckpoint={WRITER_AUTOCHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


async def _on_the_loop(session: AsyncSession) -> None:
    """Run the rest of ``session``'s SQLite transaction on the event loop's thread."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    sqlite_driver.run_in_loop(raw.dbapi_connection)


def _milliseconds(seconds: float) -> str:
    return str(max(1, round(seconds * 1000)))


def _bounded(query_timeout: float | None, idle_in_transaction: float | None) -> dict[str, Any]:
    """asyncpg options that bound a connection's statements and its transactions' pauses.

    ``query_timeout``: the server ends a statement that runs, or waits for a lock,
    longer than that (``statement_timeout``): it fails cleanly and the connection stays
    usable. The client gives up at twice that, for when the server's answer cannot
    arrive (a partition TCP has not noticed); connecting is bounded the same way.

    ``idle_in_transaction``: the server ends the session of a transaction that waits
    longer than that for its next statement (``idle_in_transaction_session_timeout``),
    which frees its locks. A process paused inside a transaction (stopped, frozen, its
    loop stuck) would otherwise hold them until it resumes: rows other nodes must claim,
    and the event log's lock, which every node's event-writing commits wait for."""
    server: dict[str, str] = {}
    options: dict[str, Any] = {"server_settings": server}
    if query_timeout is not None:
        server["statement_timeout"] = _milliseconds(query_timeout)
        options |= {"command_timeout": query_timeout * 2, "timeout": query_timeout * 2}
    if idle_in_transaction is not None:
        server["idle_in_transaction_session_timeout"] = _milliseconds(idle_in_transaction)
    return options


class Database:
    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        synchronous: str = "full",
        pool_size: int = 10,
        max_overflow: int = 10,
        query_timeout: float | None = None,
        idle_in_transaction: float | None = None,
        ping_after_idle: float = IDLE_BEFORE_PING,
        wired_like: Database | None = None,
    ) -> None:
        """``synchronous``: how SQLite's writer commits (see :data:`SYNCHRONOUS`).

        PostgreSQL only: ``pool_size`` and ``max_overflow`` size the pool;
        ``query_timeout`` (seconds) bounds every statement, the wait for a pooled
        connection and connecting (a database of its own for work that must fail rather
        than hang, as the lease keeper's, ``cluster/node.py``); ``idle_in_transaction``
        (seconds) bounds how long a transaction may wait between its statements before
        the server ends it and frees its locks (a cluster's nodes, so that one paused
        inside a transaction cannot stall the others); a pooled connection idle
        ``ping_after_idle`` seconds is checked before it is lent (``store/liveness.py``).

        ``wired_like``: another pool on the same database whose writes must do what
        that one's do: they share its session wiring (the event hooks: deliveries,
        notifications) and its after-commit hooks, those added later included (the lease
        keeper's claims write connection events). Not its publish lock: the two pools'
        commits are not ordered against each other, which only a bus fed by after-commit
        hooks would need (one node; a cluster's bus reads the log)."""
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}")
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._lent: dict[int, DBAPIConnection] = {}
        if self.is_sqlite:
            sqlite = {"json_serializer": json_text, "module": sqlite_driver.dbapi()}
            self._write_engine = create_async_engine(
                url, echo=echo, pool_size=1, max_overflow=0, **sqlite
            )
            # Overflow connections cost a thread and a file open each (aiosqlite): keep
            # enough resident that bursts of reads rarely need one.
            self._read_engine = create_async_engine(
                url, echo=echo, pool_size=8, max_overflow=8, **sqlite
            )
            event.listen(self._write_engine.sync_engine, "connect", _sqlite_pragmas(synchronous))
            event.listen(self._read_engine.sync_engine, "connect", _sqlite_pragmas("normal"))
            _immediate(self._write_engine)
        else:
            bounds: dict[str, Any] = {"connect_args": _bounded(query_timeout, idle_in_transaction)}
            if query_timeout is not None:
                bounds["pool_timeout"] = query_timeout * 2
            self._write_engine = create_async_engine(
                url,
                echo=echo,
                pool_size=pool_size,
                max_overflow=max_overflow,
                json_serializer=json_text,
                **bounds,
            )
            self._read_engine = self._write_engine
            ping_when_idle(self._write_engine, idle=ping_after_idle)
            self._track_checkouts(self._write_engine)
        self.session_info: dict[str, Any] = (
            wired_like.session_info if wired_like is not None else {}
        )
        """Entries every write session starts with in its ``info``: per-database wiring
        for code that is handed only a session (``events.log.event_hooks``)."""
        # The sessionmaker keeps this dict and copies its entries into each new session.
        self._writer = async_sessionmaker(
            self._write_engine, expire_on_commit=False, info=self.session_info
        )
        self._reader = async_sessionmaker(self._read_engine, expire_on_commit=False)
        self._after_commit: list[AfterCommit] = (
            wired_like._after_commit if wired_like is not None else []
        )
        self._checkpointer: WalCheckpointer | None = None
        if self.is_sqlite:
            path = make_url(url).database
            if path and path != ":memory:":
                self._checkpointer = WalCheckpointer(Path(path))
        # Held from just before an event-writing commit until its hooks have run, so the
        # bus sees events in commit (= id) order. Without it, on PostgreSQL a later
        # transaction could commit and publish while an earlier one is still returning
        # its connection, and a live stream would see id 6 before id 5.
        self._publish_lock = asyncio.Lock()

    def _track_checkouts(self, engine: AsyncEngine) -> None:
        """Remember the connections lent out, so :meth:`close` can end those a
        straggling task still holds (``dispose`` closes only the idle ones; the rest
        would be left to the garbage collector as unclosed sockets)."""
        lent = self._lent

        def checkout(dbapi: DBAPIConnection, record: ConnectionPoolEntry, proxy: Any) -> None:
            lent[id(record)] = dbapi

        def checkin(dbapi: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
            lent.pop(id(record), None)

        event.listen(engine.sync_engine, "checkout", checkout)
        event.listen(engine.sync_engine, "checkin", checkin)

    def connections_in_use(self) -> int:
        """Connections lent out of the pool now (PostgreSQL; 0 on SQLite)."""
        return len(self._lent)

    @property
    def engine(self) -> AsyncEngine:
        return self._write_engine

    def on_commit(self, hook: AfterCommit) -> None:
        """Run ``hook(events)`` after every commit that appended events."""
        self._after_commit.append(hook)

    @asynccontextmanager
    async def read(self, *, in_loop: bool = False) -> AsyncIterator[AsyncSession]:
        """A read-only session; ``in_loop`` as for :meth:`write` (a few indexed queries
        with small results, run on the loop's thread on SQLite)."""
        async with self._reader() as session:
            if in_loop and self.is_sqlite:
                await _on_the_loop(session)
            yield session

    def start(self) -> None:
        """Start the database's own background work (SQLite's checkpointer)."""
        if self._checkpointer is not None:
            self._checkpointer.start()

    def problem(self) -> str | None:
        """Why the database's background work is not running, if it is not."""
        return self._checkpointer.problem() if self._checkpointer is not None else None

    @asynccontextmanager
    async def write(self, *, in_loop: bool = False) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back on error.

        ``in_loop`` declares the transaction short: keyed reads and writes, inserts of a
        bounded size, no bulk UPDATE or DELETE. On SQLite its statements and commit then
        run on the event loop's thread instead of a trip to the database thread each
        (see ``sqlite_driver``), and it holds the one writer connection for that much
        less time; elsewhere it changes nothing. Since such a transaction need never give
        the loop a turn, it yields once when it ends, so back-to-back ones (a flusher
        draining its queue) cannot starve the requests and tasks waiting meanwhile.
        """
        locked = False
        try:
            async with self._writer() as session:
                async with session.begin():
                    if in_loop and self.is_sqlite:
                        await _on_the_loop(session)
                    yield session
                    if session.info.get(PENDING_EVENTS):
                        await self._publish_lock.acquire()
                        locked = True
                if self._checkpointer is not None:
                    self._checkpointer.committed()
                pending = session.info.pop(PENDING_EVENTS, None)
                if pending:
                    for hook in self._after_commit:
                        try:
                            hook(pending)
                        except Exception:
                            log.exception("after-commit hook failed")
        finally:
            if locked:
                self._publish_lock.release()
        if in_loop and self.is_sqlite:
            await asyncio.sleep(0)

    async def ping(self) -> None:
        async with self._read_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        if self._checkpointer is not None:
            await self._checkpointer.close()
        await self._write_engine.dispose()
        if self._read_engine is not self._write_engine:
            await self._read_engine.dispose()
        if self._lent:
            # A task that outlived the shutdown still holds these: end them here, at once
            # (asyncpg's terminate closes the socket without a round trip).
            log.warning("closing %d database connection(s) still in use", len(self._lent))
            for dbapi in list(self._lent.values()):
                try:
                    dbapi.terminate()
                except Exception:
                    log.exception("could not close a database connection")
            self._lent.clear()
