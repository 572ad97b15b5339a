"""Checking a pooled PostgreSQL connection before lending it, only when it sat idle.

SQLAlchemy's ``pool_pre_ping`` asks the server on every checkout: a round trip per
transaction, three per accepted send (``bench/cluster.py`` profiled them at 3.2 ms of
each send's database time). A connection handed back a moment ago is as alive as a ping
would show; one that sat idle may have been closed by a database restart, a failover or
an idle timeout. So only a connection idle for ``idle`` seconds or more is pinged, and one
that fails is replaced before anyone uses it (the pool's documented ``DisconnectionError``
protocol). A connection that breaks while in use fails that transaction, which the pool
then replaces with every other connection older than the break (SQLAlchemy invalidates
the pool on a disconnect): a group commit writes its items again one by one on fresh
connections (``store/groupcommit.py``).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry

IDLE_BEFORE_PING = 2.0
"""Seconds a pooled connection may rest and still be lent without a ping."""

_RETURNED = "zapgate_returned_at"


def ping_when_idle(engine: AsyncEngine, *, idle: float = IDLE_BEFORE_PING) -> None:
    sync = engine.sync_engine
    dialect = sync.dialect

    def checkin(dbapi: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
        record.info[_RETURNED] = time.monotonic()

    def checkout(dbapi: DBAPIConnection, record: ConnectionPoolEntry, proxy: Any) -> None:
        returned = record.info.get(_RETURNED)
        if returned is None or time.monotonic() - returned < idle:
            return  # just connected, or just used
        try:
            alive = dialect.do_ping(dbapi)
        except Exception as exc:
            raise DisconnectionError("the pooled connection is gone") from exc
        if not alive:
            raise DisconnectionError("the pooled connection is gone")

    event.listen(sync, "checkout", checkout)
    event.listen(sync, "checkin", checkin)
