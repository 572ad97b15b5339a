"""Incoming media over the size limit is not kept, whatever size the sender declared:
the message is stored with ``media.error == "media_too_large"`` and no file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import Server, eventually
from tests.integration.api.helpers import API
from tests.integration.messaging.kit import CUSTOMER, ready_connection, simulator
from zapgate.config import Settings
from zapgate.domain.messages import MessageType
from zapgate.engines.events import InboundMessage, MediaRef, MessageReceived
from zapgate.engines.simulator.inbound import SimMedia
from zapgate.store.tables.connections import ConnectionRow
from zapgate.store.tables.messages import MediaRow
from zapgate.util.clock import ManualClock

LIMIT = 64 * 1024
BIG = b"\x89PNG\r\n\x1a\n" + b"\0" * LIMIT  # just over the limit
SMALL = b"\x89PNG\r\n\x1a\n" + b"\1" * 100


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(max_media_bytes=LIMIT)


async def _messages(server: Server, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    chats = (await server.http.get(f"{API}/chats", headers=headers)).json()["items"]
    out: dict[str, dict[str, Any]] = {}
    for chat in chats:
        page = await server.http.get(f"{API}/chats/{chat['id']}/messages", headers=headers)
        out.update({m["wa_message_id"]: m for m in page.json()["items"]})
    return out


async def _media_rows(server: Server) -> int:
    async with server.runtime.db.read() as s:
        return int(await s.scalar(select(func.count()).select_from(MediaRow)) or 0)


async def test_undeclared_or_understated_size_over_the_limit_is_refused_like_declared(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    async with server.runtime.db.read() as s:
        org = await s.scalar(select(ConnectionRow.organization_id).where(ConnectionRow.id == cid))
    assert org is not None
    sim = simulator(server)
    # The simulator declares the real size: the limit applies before downloading.
    declared = await sim.incoming(
        cid,
        from_phone=CUSTOMER,
        caption="big",
        media=SimMedia(BIG, "image/png", "big.png"),
        wa_message_id="3ADECLARED",
    )
    assert declared == "3ADECLARED"

    # An engine may not know the size, and a sender may lie about it: the same bytes,
    # sent to the inbound pipeline as an engine would report them.
    def received(wa_id: str, data: bytes, size: int | None) -> MessageReceived:
        key, sha256 = sim.network.put_media(data)
        ref = MediaRef("image/png", size, "big.png", sha256, {"simulator": key})
        jid = f"{CUSTOMER}@s.whatsapp.net"
        return MessageReceived(
            cid,
            InboundMessage(
                wa_message_id=wa_id,
                chat_jid=jid,
                sender_jid=jid,
                timestamp=clock.now(),
                type=MessageType.IMAGE,
                sender_phone=CUSTOMER,
                caption="big",
                media=ref,
            ),
        )

    await server.runtime.messaging.recorder(
        org,
        cid,
        [
            received("3AUNDECLARED", BIG, None),
            received("3AUNDERSTATED", BIG, 100),
            received("3ASMALL", SMALL, None),  # under the limit: kept as always
        ],
    )

    async def stored() -> bool:
        return len(await _messages(server, admin)) == 4

    await eventually(stored, what="the four messages stored")
    messages = await _messages(server, admin)
    refused = messages["3ADECLARED"]
    assert refused["media"]["error"] == "media_too_large"
    assert refused["media"]["media_id"] is None
    for wa_id, size in (("3AUNDECLARED", None), ("3AUNDERSTATED", 100)):
        message = messages[wa_id]
        assert message["media"] == {**refused["media"], "size": size}
        for field in ("type", "status", "direction", "text", "contact_id", "chat_id"):
            assert message[field] == refused[field], field

    small = messages["3ASMALL"]["media"]
    assert small["error"] is None
    download = await server.http.get(f"{API}/media/{small['media_id']}", headers=admin)
    assert download.content == SMALL
    assert await _media_rows(server) == 1  # nothing of the refused ones was kept
