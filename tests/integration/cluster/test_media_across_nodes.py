"""Media in a cluster: a file saved through one node is read by the others.

Two nodes (two runtimes, separate data directories) on one PostgreSQL, the hop
between them in process. Node a runs the connection; everything is asked of node b.
Before media lived in the database, a's outbox failed the image (``media_not_found``:
the upload was on b's disk) and a received file could not be downloaded through b."""

from __future__ import annotations

import base64
from pathlib import Path

from sqlalchemy import func, select

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, login
from tests.integration.api.helpers import API
from tests.integration.connections.test_profiles_api import contact_of, picture, sim_profile
from tests.integration.messaging.kit import ready_connection, send, wait_status
from zapgate.services.media_blobs import DatabaseMediaStore
from zapgate.store.tables.messages import MediaBlobRow
from zapgate.util.clock import ManualClock

ANA = "5511977770001"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
PDF = b"%PDF-1.7" + b"d" * 300


def _files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "media").rglob("*") if p.is_file()]


async def test_a_file_saved_through_one_node_is_sent_and_served_by_another(
    nodes: tuple[Server, Server], tmp_path: Path
) -> None:
    a, b = nodes
    assert isinstance(a.runtime.messaging.media.store, DatabaseMediaStore)
    clock_a: ManualClock = a.runtime.clock  # type: ignore[assignment]
    ha = await login(a.http, ADMIN_EMAIL, ADMIN_PASSWORD)
    hb = await login(b.http, ADMIN_EMAIL, ADMIN_PASSWORD)
    cid = await ready_connection(a, ha, clock_a)
    assert b.runtime.supervisor.find(cid) is None

    # Uploaded through b, sent by a (the owner's outbox reads the file).
    uploaded = await b.http.post(
        f"{API}/media", headers=hb, files={"file": ("foto.png", PNG, "image/png")}
    )
    assert uploaded.status_code == 201, uploaded.text
    media_id = uploaded.json()["id"]
    sent = await send(
        b.http,
        hb,
        {"connection_id": cid, "to": f"+{ANA}", "type": "image", "media": {"media_id": media_id}},
    )
    done = await wait_status(a, ha, clock_a, sent["id"], "sent", "delivered", "read", "failed")
    assert done["status"] != "failed", done
    # Served by either node, byte for byte.
    for node, headers in ((a, ha), (b, hb)):
        got = await node.http.get(f"{API}/media/{media_id}", headers=headers)
        assert got.status_code == 200, got.text
        assert got.content == PNG

    # Received by a (its session), downloaded through b.
    incoming = await b.http.post(
        f"{API}/simulator/connections/{cid}/incoming",
        headers=hb,
        json={
            "from": ANA,
            "type": "document",
            "media": {
                "base64": base64.b64encode(PDF).decode(),
                "mimetype": "application/pdf",
                "filename": "nota.pdf",
            },
        },
    )
    assert incoming.status_code == 200, incoming.text
    received = None
    for _ in range(500):
        chats = (await b.http.get(f"{API}/chats", headers=hb)).json()["items"]
        items = [
            m
            for chat in chats
            for m in (await b.http.get(f"{API}/chats/{chat['id']}/messages", headers=hb)).json()[
                "items"
            ]
        ]
        received = next((m for m in items if m["type"] == "document"), None)
        if received is not None and received["media"]["media_id"]:
            break
        await clock_a.advance(0)
    assert received is not None, "the document never arrived"
    got = await b.http.get(f"{API}/media/{received['media']['media_id']}", headers=hb)
    assert got.status_code == 200, got.text
    assert got.content == PDF

    # Nothing of it in either node's data directory: the database holds the bytes.
    assert _files(tmp_path / "a") == []
    assert _files(tmp_path / "b") == []


async def test_a_contacts_picture_is_stored_once_in_the_database(
    nodes: tuple[Server, Server], tmp_path: Path
) -> None:
    """A picture fetched through b (from a's session) is kept as one blob, written
    outside the profile's transaction, and served by both nodes; a picture refreshed
    as unchanged stores nothing more."""
    a, b = nodes
    clock_a: ManualClock = a.runtime.clock  # type: ignore[assignment]
    ha = await login(a.http, ADMIN_EMAIL, ADMIN_PASSWORD)
    hb = await login(b.http, ADMIN_EMAIL, ADMIN_PASSWORD)
    cid = await ready_connection(a, ha, clock_a)
    contact = await contact_of(a, ha, cid)
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(range(64))
    await sim_profile(a, ha, picture=picture(jpeg))
    for node, headers in ((b, hb), (a, ha), (b, hb)):
        got = await node.http.get(f"{API}/contacts/{contact}/picture", headers=headers)
        assert got.status_code == 200, got.text
        assert got.content == jpeg
    async with a.runtime.db.read() as s:
        blobs = await s.scalar(select(func.count()).select_from(MediaBlobRow))
    assert blobs == 1
    assert _files(tmp_path / "a") == []
    assert _files(tmp_path / "b") == []
