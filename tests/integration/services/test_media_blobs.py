"""The cluster's media store on both databases: bytes in ``media_blobs``, read by any
store on the same database; files saved before cluster mode still read from disk."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import Server
from zapgate.domain.errors import NotFound
from zapgate.domain.ids import new_id
from zapgate.services.media import MediaStore
from zapgate.services.media_blobs import DatabaseMediaStore, prune_orphan_blobs
from zapgate.store.tables.accounts import OrganizationRow
from zapgate.store.tables.messages import MediaBlobRow, MediaRow


async def test_saved_by_one_store_read_by_another_then_removed(
    server: Server, tmp_path: Path
) -> None:
    runtime = server.runtime
    here = DatabaseMediaStore(tmp_path / "here", runtime.db, runtime.clock)
    there = DatabaseMediaStore(tmp_path / "there", runtime.db, runtime.clock)
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    stored = await here.save(data)
    assert stored.size == len(data)
    assert await there.read(stored.path) == data
    assert not (tmp_path / "here").exists()  # nothing on disk

    await there.remove(stored.path)
    with pytest.raises(NotFound) as gone:
        await here.read(stored.path)
    assert gone.value.code == "media_not_found"


async def test_a_file_from_before_cluster_mode_is_read_from_disk(
    server: Server, tmp_path: Path
) -> None:
    runtime = server.runtime
    before = await MediaStore(tmp_path / "media").save(b"%PDF-1.7 older")
    store = DatabaseMediaStore(tmp_path / "media", runtime.db, runtime.clock)
    assert await store.read(before.path) == b"%PDF-1.7 older"
    await store.remove(before.path)
    assert not (tmp_path / "media" / before.path).exists()


async def test_retention_removes_only_old_blobs_no_media_row_names(server: Server) -> None:
    runtime = server.runtime
    now = runtime.clock.now()
    old = now - timedelta(days=40)
    async with runtime.db.write() as s:
        org = await s.scalar(select(OrganizationRow.id))
        assert org is not None
        for path, at in (("aa/kept", old), ("bb/orphan", old), ("cc/young", now)):
            s.add(MediaBlobRow(path=path, data=b"x", created_at=at))
        s.add(
            MediaRow(
                id=new_id(),
                organization_id=org,
                sha256="0" * 64,
                mimetype="image/png",
                filename=None,
                size=1,
                path="aa/kept",
                created_at=old,
            )
        )
    assert await prune_orphan_blobs(runtime.db, now - timedelta(days=30)) == 1
    async with runtime.db.read() as s:
        left = set((await s.scalars(select(MediaBlobRow.path))).all())
    # Named by a media row: kept; too young to judge (a save on its way): kept.
    assert left == {"aa/kept", "cc/young"}
