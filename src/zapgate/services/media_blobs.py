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

from pathlib import Path

from sqlalchemy import delete, select

from zapgate.domain.errors import NotFound
from zapgate.domain.ids import new_id
from zapgate.services.media import MediaStore, StoredFile, stored_file
from zapgate.store.db import Database
from zapgate.store.tables.messages import MediaBlobRow
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
