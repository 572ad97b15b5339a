"""whatsmeow's device store shared in PostgreSQL (cluster mode): forgetting a device.

On SQLite each connection has a store file of its own, removed with the connection. In
the shared store a device is its ``whatsmeow_device`` row, found by JID; every other
whatsmeow table refers to it with ``ON DELETE CASCADE``, so deleting the row removes
its keys, sessions and contacts. whatsmeow's own logout deletes it when the device is
connected; this does it for one that is not (offline, or run by no node of a cluster).
It runs in the main process, not in a worker: a session no node runs has no worker.
"""

from __future__ import annotations

import logging
import re

import asyncpg  # type: ignore[import-untyped]

from zapgate.engines.neonize.convert import parse_jid

TIMEOUT = 10.0
log = logging.getLogger(__name__)


def same_device(stored: str, wanted: str) -> bool:
    """Whether ``stored`` (as whatsmeow keeps it, with its device number) is the device
    ``wanted`` names; a ``wanted`` without a device number names the account's device
    in this store (one per connection)."""
    user, server, device = parse_jid(wanted)
    s_user, s_server, s_device = parse_jid(stored)
    return (s_user, s_server) == (user, server) and (not device or device == s_device)


async def forget_device(database_url: str, jid: str) -> int:
    """Delete the stored device ``jid`` names; how many rows went (0 when the store has
    no tables yet). A ``jid`` without a device number that matches several devices (the
    same number linked by two connections) deletes none: it cannot say which is this
    connection's, and another connection's keys are not ours to delete."""
    dsn = re.sub(r"^postgres(?:ql)?(?:\+\w+)?://", "postgresql://", database_url)
    conn = await asyncpg.connect(dsn, timeout=TIMEOUT, command_timeout=TIMEOUT)
    try:
        async with conn.transaction():
            try:
                stored = [r["jid"] for r in await conn.fetch("SELECT jid FROM whatsmeow_device")]
            except asyncpg.UndefinedTableError:
                return 0
            doomed = [j for j in stored if same_device(j, jid)]
            if len(doomed) > 1 and not parse_jid(jid)[2]:
                log.warning(
                    "several stored devices match a JID without a device number; none forgotten",
                    extra={"jid": jid, "matches": len(doomed)},
                )
                return 0
            if doomed:
                await conn.execute(
                    "DELETE FROM whatsmeow_device WHERE jid = ANY($1::text[])", doomed
                )
            return len(doomed)
    finally:
        await conn.close()
