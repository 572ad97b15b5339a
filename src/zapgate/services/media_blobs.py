"""Media files in the database, for cluster mode.

In a cluster a file is saved by whichever node got the request (an upload, a fetched
URL, a base64 body; a received file by the connection's owner) and read by another: the
owner that sends it, any node a client downloads it through, the node that builds a
webhook body. One node's data directory cannot serve them all, so there the bytes live
in the shared PostgreSQL (``media_blobs``, keyed by the path the ``media`` row names).
A path with no blob is read from this node's ``media/`` directory: files saved before
the node ran in cluster mode stay readable where they were.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, exists, select

from zapgate.domain.errors import NotFound
from zapgate.domain.ids import new_id
from zapgate.events.retention import delete_in_chunks
from zapgate.services.media import MediaStore, StoredFile, stored_file
from zapgate.store.db import Database
from zapgate.store.tables.messages import MediaBlobRow, MediaRow
from zapgate.util.clock import Clock


class DatabaseMediaStore(MediaStore):
    def __init__(self, root: Path, db: Database, clock: Clock) -> None:
        super().__init__(root)
        self._db = db
        self._clock = clock

    async def save(self, data: bytes) -> StoredFile:
        stored = stored_file(new_id(), data)
        async with self._db.write() as s:
            s.add(MediaBlobRow(path=stored.path, data=data, created_at=self._clock.now()))
        return stored

    async def read(self, path: str) -> bytes:
        async with self._db.read() as s:
            data = await s.scalar(select(MediaBlobRow.data).where(MediaBlobRow.path == path))
        if data is not None:
            return bytes(data)
        try:
            return await super().read(path)
        except NotFound as exc:
            raise NotFound(
                "media file is missing (not in the database, nor in this node's media directory)",
                code="media_not_found",
            ) from exc

    async def remove(self, path: str) -> None:
        async with self._db.write() as s:
            await s.execute(delete(MediaBlobRow).where(MediaBlobRow.path == path))
        await super().remove(path)


def media_store(root: Path, db: Database, clock: Clock, *, clustered: bool) -> MediaStore:
    """The store a node uses: files under ``root`` alone, the database in a cluster."""
    return DatabaseMediaStore(root, db, clock) if clustered else MediaStore(root)


async def prune_orphan_blobs(db: Database, before: datetime) -> int:
    """A retention hook (cluster mode): delete the blobs saved before ``before`` that no
    ``media`` row names: their organization was deleted (its media rows went with it),
    or the row was never written (a failed upload, a crash between the two writes).
    Blobs younger than ``before`` are kept, so a save whose row is still on its way is
    never taken."""
    named = exists().where(MediaRow.path == MediaBlobRow.path)
    return await delete_in_chunks(
        db, MediaBlobRow, MediaBlobRow.path, MediaBlobRow.created_at < before, ~named
    )
