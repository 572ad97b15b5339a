"""Sending every message type end to end through the simulator, with receipts."""

from __future__ import annotations

import base64

from tests.conftest import Server
from tests.integration.api.helpers import API
from tests.integration.messaging.kit import (
    CUSTOMER,
    message,
    ready_connection,
    send,
    simulator,
    wait_status,
)
from zapgate.util.clock import ManualClock

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def test_text_goes_out_and_receipts_move_it_forward(
    server: Server, admin: dict[str, str], clock: ManualClock
) -> None:
    cid = await ready_connection(server, admin, clock)
    accepted = await send(server.http, admin, {"to": "+55 11 98888-7777", "text": "Olá"})
    assert accepted["status"] == "queued"
    assert accepted["ack"] == 1
    assert accepted["wa_message_id"].startswith("3EB0")
    assert accepted["connection_id"] == cid
    assert accepted["to"] == f"{CUSTOMER}@s.whatsapp.net"
    for key in ("id", "chat_id", "type", "created_at", "send_at", "sent_at", "delivered_at",
                "read_at", "error_code", "error_message"):
        assert key in accepted
    sent = await wait_status(server, admin, clock, accepted["id"], "sent", "delivered", "read")
    assert sent["wa_message_id"] == accepted["wa_message_id"]
    outbox = simulator(server).outbox(cid)
    assert [e.wa_message_id for e in outbox] == [accepted["wa_message_id"]]
    assert outbox[0].text == "Olá"
    done = await wait_status(server, admin, clock, accepted["id"], "read")
    assert done["ack"] == 4
    assert done["delivered_at"] is not None
    assert done["read_at"] is not None

