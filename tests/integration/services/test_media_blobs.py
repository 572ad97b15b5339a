"""The cluster's media store on both databases: bytes in ``media_blobs``, read by any
store on the same database; files saved before cluster mode still read from disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Server
from zapgate.domain.errors import NotFound
from zapgate.services.media import MediaStore
from zapgate.services.media_blobs import DatabaseMediaStore


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
